"""The .y4m clip writer moved to :mod:`fer_core.measure.y4m` (the load test uses it too); re-exported here."""

from fer_core.measure.y4m import from_i420, read_y4m_frame, to_i420, write_y4m

__all__ = ["from_i420", "read_y4m_frame", "to_i420", "write_y4m"]
