"""The time-left line of a running job (`ui.widgets.describe_time_left`)."""

from ui.widgets import describe_time_left


def test_time_left_is_a_straight_line_from_the_share_done():
    assert describe_time_left(0.25, 60) == "Running 1 min 00 s, about 3 min 00 s left."
    assert describe_time_left(0.5, 7200) == "Running 2 h 00 min, about 2 h 00 min left."
    assert describe_time_left(0.9, 45) == "Running 45 s, about 5 s left."


def test_no_estimate_while_it_would_be_noise():
    assert describe_time_left(0.01, 600) is None  # under 2 %
    assert describe_time_left(0.5, 3) is None  # under 5 s
    assert describe_time_left(None, 60) is None
    assert describe_time_left(1.0, 60) is None
