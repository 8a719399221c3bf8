"""The device a job runs on: 'auto' picks CUDA when present, else the CPU.

torch is imported only when a choice has to be made, so importing this module stays cheap.
"""

from __future__ import annotations

from contract.specs import check_choice

DEVICES = ("auto", "cpu", "cuda")


def check_device_name(device: str) -> str:
    """The name when it is one of `DEVICES`.

    Raises:
        ValueError: any other name (the message lists the valid ones).
    """
    return check_choice("device", device, DEVICES)


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a CUDA device is available, else 'cpu'; 'cpu' / 'cuda' as given.

    Returns:
        'cpu' or 'cuda' (a string: torch accepts it wherever a device goes).

    Raises:
        ValueError: an unknown name, or 'cuda' asked for on a machine without CUDA.
    """
    import torch

    check_device_name(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA device is available; use 'cpu'.")
    return device
