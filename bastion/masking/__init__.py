"""Secret masking: a streaming, chunk-exact masker (`stream`), built-in detectors (`detectors`),
profiles from policy files (`profiles`) and the `bastion mask` command (`cli`)."""

from bastion.masking.profiles import MaskingProfile, ProfileSet, build_profiles
from bastion.masking.stream import HOLD_BOUND, MaskHit, StreamMasker

__all__ = ["HOLD_BOUND", "MaskHit", "MaskingProfile", "ProfileSet", "StreamMasker", "build_profiles"]
