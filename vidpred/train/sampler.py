"""A DistributedSampler that can start part-way through an epoch, so a resumed run sees exactly the
batches an uninterrupted one would have."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from torch.utils.data import Dataset, DistributedSampler


class ResumableSampler(DistributedSampler):
    """`DistributedSampler` (shuffled by seed + epoch, each rank its own slice, the tail dropped so
    every rank gets the same count) plus `skip`: the first `skip` indices of this rank's epoch are
    left out. Works without a process group (pass `rank` and `world`)."""

    def __init__(self, dataset: Dataset, *, seed: int, rank: int = 0, world: int = 1) -> None:
        super().__init__(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.skip = 0

    def set_position(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return max(0, self.num_samples - self.skip)
