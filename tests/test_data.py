from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_frame_folder, make_frames, make_video
from torch.utils.data import DataLoader

from vidpred.data import (
    ClipDataset,
    FrameCache,
    count_windows,
    load_clips,
    split_by_file,
    split_by_time,
    split_clips,
    working_size,
)
from vidpred.errors import InputError
from vidpred.io.sources import open_source


@pytest.fixture
def cache(tmp_path: Path) -> FrameCache:
    return FrameCache(tmp_path / "cache")


def test_working_size_covers_the_crop_and_keeps_aspect():
    assert working_size((720, 1280), (64, 64)) == (64, 114)
    assert working_size((1280, 720), (64, 64)) == (114, 64)
    assert working_size((96, 128), (64, 128)) == (96, 128)
    assert working_size((32, 48), (64, 64)) == (64, 96)  # upsampled when smaller


def test_count_windows():
    assert count_windows(10, frames=4, stride=1) == 7
    assert count_windows(10, frames=4, stride=3) == 1  # needs frames 0, 3, 6, 9
    assert count_windows(9, frames=4, stride=3) == 0
    assert count_windows(10, frames=2, stride=1, step=2) == 5


def test_cache_is_exact_for_lossless_input_and_reused(tiny_mkv_lossless, tiny_frames, cache):
    source = open_source(tiny_mkv_lossless)
    clip = cache.get(source, (32, 48))
    assert (clip.frames, clip.height, clip.width) == (8, 32, 48)
    np.testing.assert_array_equal(clip.open(), tiny_frames)
    mtime = clip.data_file.stat().st_mtime_ns
    again = cache.get(open_source(tiny_mkv_lossless), (32, 48))
    assert again == clip and again.data_file.stat().st_mtime_ns == mtime  # not rebuilt


def test_cache_follows_content_not_name(tmp_path, cache):
    path = make_video(tmp_path / "v.mkv", make_frames(6, 32, 48, seed=1), codec="ffv1")
    first = cache.get(open_source(path), (32, 48))
    make_video(path, make_frames(5, 32, 48, seed=2), codec="ffv1")  # edited in place
    second = cache.get(open_source(path), (32, 48))
    assert second.data_file != first.data_file and second.frames == 5


def test_cache_resizes_while_decoding(tiny_mp4, cache):
    clip = cache.get(open_source(tiny_mp4), (16, 24))
    assert clip.open().shape == (8, 16, 24, 3)


def test_load_clips_skips_bad_and_short_files_with_reasons(tmp_path, cache):
    good = make_video(tmp_path / "good.mp4", make_frames(12, 32, 48))
    make_video(tmp_path / "short.mp4", make_frames(3, 32, 48))
    (tmp_path / "text.mp4").write_text("not a video")
    clips, skipped = load_clips([tmp_path], size=(32, 32), frames=4, cache=cache)
    assert [c.source for c in clips] == [good]
    reasons = {s.path.name: s.reason for s in skipped}
    assert set(reasons) == {"short.mp4", "text.mp4"}
    assert "one window needs 4" in reasons["short.mp4"]


def test_load_clips_fails_when_nothing_is_usable(tmp_path, cache):
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(InputError, match="no usable clip") as info:
        load_clips([tmp_path], size=(32, 32), frames=4, cache=cache)
    assert "text.mp4" in str(info.value)


def _clips(tmp_path, cache, n=5, frames=10):
    for i in range(n):
        make_frame_folder(tmp_path / f"clip{i}", make_frames(frames, 32, 48, seed=i))
    clips, _ = load_clips(
        [tmp_path / f"clip{i}" for i in range(n)], size=(32, 32), frames=3, cache=cache
    )
    return clips


def test_split_is_by_file_and_deterministic(tmp_path, cache):
    clips = _clips(tmp_path, cache)
    train, val = split_by_file(clips, val_fraction=0.4, seed=3)
    assert len(val) == 2 and len(train) == 3
    assert not {c.source for c in train} & {c.source for c in val}
    again = split_by_file(list(reversed(clips)), val_fraction=0.4, seed=3)
    assert again == (train, val)
    assert split_by_file(clips[:1], val_fraction=0.4, seed=3) == (clips[:1], [])


def test_eval_windows_are_centre_crops_in_order(tmp_path, cache):
    clips = _clips(tmp_path, cache, n=2, frames=6)
    ds = ClipDataset(clips, frames=3, size=(32, 32), stride=2)
    assert len(ds) == 2 * count_windows(6, frames=3, stride=2)
    item = ds[0]
    assert item.shape == (3, 3, 32, 32) and item.dtype == torch.float32
    full = torch.from_numpy(np.array(clips[0].open()[0:5:2])).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(item, full[..., :, 8:40])
    assert torch.equal(ds[0], ds[0])


def test_train_crops_are_random_but_seeded(tmp_path, cache):
    clips = _clips(tmp_path, cache, n=1, frames=8)
    ds = ClipDataset(clips, frames=3, size=(16, 16), train=True, seed=1)
    crops = {ds[i][0].sum().item() for i in range(len(ds))}
    assert len(crops) > 1
    same = ClipDataset(clips, frames=3, size=(16, 16), train=True, seed=1)
    assert torch.equal(ds[2], same[2])
    ds.set_epoch(1)
    assert not all(torch.equal(ds[i], same[i]) for i in range(len(ds)))


def test_dataloader_workers_match_the_main_process(tmp_path, cache):
    clips = _clips(tmp_path, cache, n=2, frames=8)
    ds = ClipDataset(clips, frames=3, size=(16, 16), train=True, seed=0)
    ds[0]  # opens a memory map in this process: it must not be pickled into the workers
    main = torch.stack([ds[i] for i in range(len(ds))])
    workers = torch.cat(list(DataLoader(ds, batch_size=4, num_workers=2)))
    assert torch.equal(main, workers)


def _clip(cache, tmp_path, name: str, frames: int):
    return cache.get(
        open_source(make_video(tmp_path / name, make_frames(frames, 16, 16, seed=frames))),
        (16, 16),
    )


def test_split_by_time_cuts_between_windows_and_reads_the_right_frames(tmp_path, cache):
    clip = _clip(cache, tmp_path, "a.mp4", 20)
    train, val = split_by_time([clip], val_fraction=0.25, span=4)
    assert [(c.start, c.frames) for c in train] == [(0, 15)]
    assert [(c.start, c.frames) for c in val] == [(15, 5)]
    whole = clip.open()
    assert np.array_equal(val[0].open(), whole[15:]) and np.array_equal(train[0].open(), whole[:15])
    # Every window of each side lies inside its side: none straddles the cut.
    for side in (train, val):
        ds = ClipDataset(side, frames=4, size=(16, 16))
        assert len(ds) == side[0].frames - 3


def test_split_by_time_keeps_too_short_clips_whole_for_training(tmp_path, cache):
    short = _clip(cache, tmp_path, "short.mp4", 6)
    train, val = split_by_time([short], val_fraction=0.2, span=4)
    assert train == [short] and val == []


def test_auto_split_is_by_time_when_files_would_leave_one_validation_file(tmp_path, cache):
    clips = [_clip(cache, tmp_path, f"c{i}.mp4", 12 + i) for i in range(5)]
    train, val, how = split_clips(clips, how="auto", val_fraction=0.2, seed=0, span=4)
    assert how == "time" and len(val) == 5  # the end of every file, not one whole file
    many = clips + [_clip(cache, tmp_path, f"d{i}.mp4", 12 + i) for i in range(5)]
    train, val, how = split_clips(many, how="auto", val_fraction=0.2, seed=0, span=4)
    assert how == "files" and len(val) == 2
    assert split_clips(clips, how="files", val_fraction=0.2, seed=0, span=4)[2] == "files"
    assert split_clips(clips, how="auto", val_fraction=0.0, seed=0, span=4)[2] == "none"
