"""Simulated experts for the demo: they perceive a case's "truth" with noise and submit the raw
input of the same score form that real experts fill in, so the demo exercises the real path.

Everything is seeded from (seed, expert, round), so a demo run is reproducible and a rerun of a
crashed step submits exactly the same scores.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from experts.scoring import MAX_MEASURES
from rules.domain import Lang, domain
from rules.risk_matrix import (
    BAND_COUNT,
    BAND_LABELS,
    SEVERITIES,
    ProbabilityError,
    level,
    level_index,
    parse_probability,
)

SEVERITY_NOISE = 0.2  # round 1: chance that an expert rates severity one step off
BAND_NOISE = 0.3  # round 1: chance that an expert rates probability one band off
FOLLOW_MEDIAN = 0.85  # later rounds: chance of adopting the group median outright
FAR_LEVELS = 2  # a dissenting expert's distance from the truth, in risk levels

SEVERITY_WORDS = {
    "zh": {1: "轻微伤害，简单处理即可恢复", 2: "需急诊处理但无需住院",
           3: "需住院治疗或影响超过6个月", 4: "可能致死或造成永久性残疾"},
    "en": {1: "first aid only, no lasting effect", 2: "an emergency visit without hospital stay",
           3: "a hospital stay or effects beyond six months",
           4: "possibly fatal or permanently disabling"},
}
TEMPLATES = {
    "zh": (
        "综合样品缺陷与使用场景，伤害严重程度评为{severity}级（{words}），产品使用寿命内伤害发生概率约为"
        "{band}。",
        "参照同类产品伤害数据，严重程度为{severity}级（{words}）；伤害发生概率估计为{band}，"
        "建议优先采取“{measure}”。",
        "检测结果表明缺陷明确，伤害严重程度{severity}级（{words}），发生概率按{band}估计。",
    ),
    "en": (
        "Given the defect and the foreseeable use, severity {severity} ({words}); probability of "
        "harm over the product's lifetime {band}.",
        "Injury data for similar products suggest severity {severity} ({words}) and a "
        "probability of {band}; {measure} should come first.",
        "The test results show a clear defect: severity {severity} ({words}), probability "
        "estimated at {band}.",
    ),
}
VULNERABLE = {"zh": "婴幼儿等脆弱群体面临更高风险。",
              "en": "Vulnerable users such as young children face a higher risk."}
FOLLOWED = {"zh": "参考上一轮专家组反馈，", "en": "Having read the panel's feedback: "}
HELD = {"zh": "参考上一轮反馈后，对概率仍持略有不同的看法：",
        "en": "After the panel's feedback I still see the probability slightly differently: "}


@dataclass(frozen=True)
class Truth:
    """What a demo case "really" is; the simulated experts perceive it with noise."""

    severity: int
    band: int
    measures: tuple[str, ...]
    spread: str | None = None
    vulnerable_users: bool = False
    disagreement: bool = False  # force a split panel in round 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "measures", tuple(self.measures))
        if not _whole(self.severity) or self.severity not in SEVERITIES:
            raise ValueError(f"truth: severity must be 1..4, got {self.severity!r}")
        if not _whole(self.band) or not 0 <= self.band < BAND_COUNT:
            raise ValueError(f"truth: band must be 0..{BAND_COUNT - 1}, got {self.band!r}")
        if not 1 <= len(self.measures) <= MAX_MEASURES or len(set(self.measures)) != len(
                self.measures):
            raise ValueError(f"truth: give 1..{MAX_MEASURES} distinct measures")
        for code in self.measures:
            if code not in domain().measures:
                raise ValueError(f"truth: unknown measure {code!r}")
        if self.spread is not None and self.spread not in domain().scopes:
            raise ValueError(f"truth: unknown spread {self.spread!r}")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _step(rng: random.Random, value: int, chance: float, low: int, high: int) -> int:
    if rng.random() >= chance:
        return value
    return min(high, max(low, value + rng.choice((-1, 1))))


def _noisy(rng: random.Random, severity: int, band: int) -> tuple[int, int]:
    return (_step(rng, severity, SEVERITY_NOISE, 1, 4),
            _step(rng, band, BAND_NOISE, 0, BAND_COUNT - 1))


def _far(rng: random.Random, severity: int, band: int) -> tuple[int, int]:
    """The nearest (severity, band) whose level is at least FAR_LEVELS away from the truth's,
    on the side where the scale leaves room (lower for high/serious, higher for low/medium)."""
    base = level_index(level(severity, band))
    lower = base >= FAR_LEVELS
    candidates = [(s, b) for s in SEVERITIES for b in range(BAND_COUNT)
                  if (level_index(level(s, b)) <= base - FAR_LEVELS if lower
                      else level_index(level(s, b)) >= base + FAR_LEVELS)]
    nearest = min(abs(s - severity) + abs(b - band) for s, b in candidates)
    return rng.choice([c for c in candidates if abs(c[0] - severity) + abs(c[1] - band) == nearest])


def _dissents(expert_id: str, seed: str, panel: Sequence[str] | None) -> bool:
    """Which half of a split panel an expert is in. With the panel known, every second expert
    (by id) dissents, which guarantees a split; otherwise a coin seeded by the expert."""
    if panel and expert_id in panel:
        return sorted(set(panel)).index(expert_id) % 2 == 1
    return random.Random(f"{seed}|{expert_id}|split").random() < 0.5


def _group_median(feedback: Mapping[str, Any] | None) -> tuple[int, int] | None:
    if not feedback:
        return None
    severity, band = feedback.get("severity"), feedback.get("band")
    if not isinstance(band, int) and isinstance(feedback.get("band_label"), str):
        try:
            band = parse_probability(feedback["band_label"])[0]
        except ProbabilityError:
            band = None
    if isinstance(severity, int) and not isinstance(severity, bool) and severity in SEVERITIES \
            and isinstance(band, int) and not isinstance(band, bool) and 0 <= band < BAND_COUNT:
        return severity, band
    return None


def _reordered(rng: random.Random, measures: tuple[str, ...]) -> list[str]:
    ordered = list(measures)
    if len(ordered) >= 2 and rng.random() < 0.35:
        i = rng.randrange(len(ordered) - 1)
        ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    return ordered


def simulated_score(truth: Truth, expert_id: str, round_no: int, feedback: dict | None, *,
                    seed: str, lang: Lang = "zh",
                    panel: Sequence[str] | None = None) -> dict[str, Any]:
    """The raw ScoreForm input one simulated expert submits in one round.

    Round 1 (or no feedback): the truth with small noise; with `truth.disagreement`, half the
    panel scores at least two levels away (pass `panel`, the voting experts' ids, to make the
    split exact; without it each expert tosses a seeded coin). Later rounds with feedback: the
    group median with high probability, else the median severity with a probability one band
    off, which keeps every expert within one level so the round can reach consensus.
    """
    if lang not in TEMPLATES:
        raise ValueError(f"lang must be one of {', '.join(TEMPLATES)}, got {lang!r}")
    rng = random.Random(f"{seed}|{expert_id}|{round_no}")
    median = _group_median(feedback) if round_no >= 2 else None
    prefix = ""
    vulnerable = truth.vulnerable_users
    if median is not None:
        severity, band = median
        if rng.random() < FOLLOW_MEDIAN:
            prefix = FOLLOWED[lang]
        else:
            band = min(BAND_COUNT - 1, max(0, band + rng.choice((-1, 1))))
            prefix = HELD[lang] if band != median[1] else FOLLOWED[lang]
        if feedback is not None and isinstance(feedback.get("vulnerable_users"), bool):
            vulnerable = feedback["vulnerable_users"]
    elif truth.disagreement:
        severity, band = truth.severity, truth.band
        if _dissents(expert_id, seed, panel):
            severity, band = _far(rng, severity, band)
    else:
        severity, band = _noisy(rng, truth.severity, truth.band)
        if rng.random() < 0.1:
            vulnerable = not vulnerable
    measures = _reordered(rng, truth.measures)
    template = rng.choice(TEMPLATES[lang])
    rationale = prefix + template.format(
        severity=severity, words=SEVERITY_WORDS[lang][severity], band=BAND_LABELS[band],
        measure=domain().measures.name(measures[0], lang))
    if vulnerable:
        rationale += ("" if lang == "zh" else " ") + VULNERABLE[lang]
    return {
        "severity": severity,
        "probability": BAND_LABELS[band],
        "measures": measures,
        "rationale": rationale,
        "vulnerable_users": vulnerable,
        "spread": truth.spread,
        "confidence": rng.randint(3, 5),
    }
