"""Development tokens (``pao token``, the portal's sign-in): ``pao_common.devkeys``."""

from pao_common.devkeys import DevKey, mint

__all__ = ["DevKey", "mint"]
