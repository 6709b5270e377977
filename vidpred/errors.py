"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class VidpredError(Exception):
    """Base class: bad input, missing weights, incompatible checkpoint, ..."""


class InputError(VidpredError):
    """A file or folder the user gave cannot be used (missing, unreadable, wrong shape)."""


class WeightsMissingError(VidpredError):
    """Pretrained weights are not on disk and may not be downloaded implicitly."""


class CheckpointError(VidpredError):
    """A checkpoint is not a vidpred model, is truncated, or is from an incompatible version."""


class SpecError(VidpredError):
    """A loss spec (or another small language the CLI takes) does not parse."""


class Note(UserWarning):
    """Something a user should know that is not an error (a stale lock taken over, temporary
    files removed). Issued with `warnings.warn`; the CLI prints it as one `note:` line."""
