"""payerkb: a payer-policy knowledge base and logic solver for trigger point injection billing."""

__version__ = "0.1.0"
