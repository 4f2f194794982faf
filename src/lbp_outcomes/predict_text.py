"""``lbp-outcomes predict`` for a person at a terminal: one block per patient, one line per
outcome (label with unit, prediction with its interval, or the probability in percent).

The numbers are those of the CSV and JSON (:mod:`lbp_outcomes.predict_output`, already
clipped and rounded); the models and their calibration are listed once, on standard error.
"""

from __future__ import annotations

import math

from lbp_outcomes.predict_output import Presented


def to_text(result: Presented) -> str:
    """Readable blocks, e.g.::

    Patient 2 (patient_id LET-B-000002); imputed: bmi
      Disability after treatment (ODI raw /50)   6.2   90% interval 3.5 to 10.1
      NRS improved by ≥ 2 points                 99.9% probability
    """
    width = max((len(o.label) for o in result.outcomes), default=0)
    share = f"{result.level:.0%} interval" if result.level else "interval"
    lines = [f"Trained on: {result.trained_on['text']}", ""]
    for record in result.table.to_dict(orient="records"):
        head = f"Patient {record['row']}"
        if result.id_column:
            head += f" ({result.id_column} {record[result.id_column]})"
        if record["imputed"]:
            head += f"; imputed: {record['imputed'].replace('; ', ', ')}"
        lines.append(head)
        for out in result.outcomes:
            t = out.target
            if out.kind == "binary":
                value = f"{percent(record[f'{t}_probability']):>7} probability"
            else:
                value = f"{record[t]:>7.{out.digits}f}"
                if f"{t}_lower" in record:
                    low, high = record[f"{t}_lower"], record[f"{t}_upper"]
                    value += f"   {share} {low:.{out.digits}f} to {high:.{out.digits}f}"
            lines.append(f"  {out.label:<{width}}   {value}")
        lines.append("")
    return "\n".join(lines)


def percent(probability: float) -> str:
    """A probability as a percentage with the decimals it was rounded to, at least one
    (0.98 -> 98.0%, 0.9996 -> 99.96%): the text never shows more certainty than the CSV."""
    if not math.isfinite(probability):
        return "–"
    text = repr(float(probability))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 6
    return f"{100 * probability:.{max(decimals - 2, 1)}f}%"
