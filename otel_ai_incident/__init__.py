"""otel-ai-incident: detect and contain AI incidents with OpenTelemetry and Prometheus.

import otel_ai_incident as aii

aii.instrument(service_name="support-bot")
with aii.llm_turn(user_id=uid, session_id=sid, model="gpt-4o-mini", system_prompt=SYSTEM, user_message=msg) as turn:
    with turn.model_call(temperature=0.2) as call:
        answer = call_model(msg)
        call.reply(aii.ModelReply(response_id=answer.id, input_tokens=42, output_tokens=7))
    turn.complete(turn.check_output(answer.text))
"""

from otel_ai_incident.containment.registry import active_model, active_prompt, register_models, register_prompt
from otel_ai_incident.errors import ContainmentActive
from otel_ai_incident.instrumentation import Instrumentation, instrument
from otel_ai_incident.telemetry.hooks import (
    GuardrailCheck,
    ModelCall,
    ModelReply,
    ModelRequest,
    ToolCall,
    Turn,
    guardrail_threshold,
    llm_turn,
    report_user_feedback,
)
from otel_ai_incident.telemetry.turn_context import turn_context

__all__ = [
    "ContainmentActive",
    "GuardrailCheck",
    "Instrumentation",
    "ModelCall",
    "ModelReply",
    "ModelRequest",
    "ToolCall",
    "Turn",
    "active_model",
    "active_prompt",
    "guardrail_threshold",
    "instrument",
    "llm_turn",
    "register_models",
    "register_prompt",
    "report_user_feedback",
    "turn_context",
]
