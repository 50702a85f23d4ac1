"""The convention settings of the process: which generation(s) of GenAI names, and where content goes.

Both are read once, at `instrument()`, from the standard variables: OTEL_SEMCONV_STABILITY_OPT_IN
(see `names.generations_from_opt_in`) and OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, whose values
depend on the generation, as in opentelemetry-python-contrib: today's conventions take `true`/`false`
(content on spans), the current ones `NO_CONTENT`, `SPAN_ONLY`, `EVENT_ONLY` or `SPAN_AND_EVENT`. A value of
the other generation, or an unknown one, captures nothing and says so in the log.
"""

from __future__ import annotations

import logging
import os

from otel_ai_incident import names

logger = logging.getLogger("otel_ai_incident")


def selected_generations() -> tuple[names.Generation, ...]:
    return names.generations_from_opt_in(os.environ.get(names.ENV_SEMCONV_STABILITY_OPT_IN))


def content_capture(generations: tuple[names.Generation, ...], value: str | None = None) -> names.ContentCapture:
    """The capture mode `value` (default: the variable) names under the selected generations."""
    if value is None:
        value = os.environ.get(names.ENV_CAPTURE_MESSAGE_CONTENT, "")
    for generation in reversed(generations):  # the newest first: under dual emission its modes win
        mode = generation.content_capture(value)
        if mode is not None:
            return mode
    accepted = sorted({v for g in generations for v in g.content_values if v})
    logger.warning(
        "otel-ai-incident: %s=%r is not a capture mode of the selected conventions (one of %s; the current "
        "modes need %s=%s): no message content is captured",
        names.ENV_CAPTURE_MESSAGE_CONTENT,
        value,
        ", ".join(accepted),
        names.ENV_SEMCONV_STABILITY_OPT_IN,
        names.SEMCONV_OPT_IN_LATEST,
    )
    return names.ContentCapture.NO_CONTENT
