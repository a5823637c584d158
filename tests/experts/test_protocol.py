import pytest

from experts.protocol import Protocol


def test_defaults_match_design():
    p = Protocol()
    assert (p.panel_size, p.quorum, p.reserves, p.max_rounds) == (5, 4, 2, 3)
    assert (p.consensus_max_iqr, p.consensus_min_share) == (1.0, 0.75)
    assert (p.outlier_distance, p.max_open_seats) == (2, 6)


def test_round_trip_through_dict():
    p = Protocol(panel_size=7, quorum=5, reserves=0, max_rounds=5, consensus_max_iqr=0,
                 consensus_min_share=1, outlier_distance=1, max_open_seats=1)
    data = p.to_dict()
    assert data["consensus_max_iqr"] == 0.0 and isinstance(data["consensus_max_iqr"], float)
    assert Protocol.from_dict(data) == p
    assert Protocol.from_dict({}) == Protocol()


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"panel_size": 4, "quorum": 3}, "odd"),
    ({"panel_size": 1, "quorum": 1}, "odd number of at least 3"),
    ({"quorum": 2}, "strict majority"),
    ({"quorum": 6}, "strict majority"),
    ({"panel_size": 3, "quorum": 3, "reserves": -1}, "reserves"),
    ({"max_rounds": 0}, "max_rounds"),
    ({"max_rounds": 6}, "max_rounds"),
    ({"consensus_max_iqr": -0.5}, "consensus_max_iqr"),
    ({"consensus_min_share": 0}, "consensus_min_share"),
    ({"consensus_min_share": 1.01}, "consensus_min_share"),
    ({"outlier_distance": 0}, "outlier_distance"),
    ({"max_open_seats": 0}, "max_open_seats"),
    ({"panel_size": True}, "whole number"),
    ({"quorum": 4.0}, "whole number"),
    ({"consensus_min_share": "0.75"}, "must be a number"),
])
def test_invalid_parameters_are_refused_with_a_precise_message(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Protocol(**kwargs)


def test_quorum_boundaries():
    assert Protocol(panel_size=5, quorum=3).quorum == 3
    assert Protocol(panel_size=5, quorum=5).quorum == 5
    with pytest.raises(ValueError, match=r"3\.\.5"):
        Protocol(panel_size=5, quorum=2)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown parameter 'consensus_max_iqr_levels'"):
        Protocol.from_dict({**Protocol().to_dict(), "consensus_max_iqr_levels": 1})
    with pytest.raises(ValueError, match="mapping"):
        Protocol.from_dict([("panel_size", 5)])  # type: ignore[arg-type]


def test_frozen():
    with pytest.raises(AttributeError):
        Protocol().quorum = 3  # type: ignore[misc]
