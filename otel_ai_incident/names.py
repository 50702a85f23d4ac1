"""Every name of the contract, once.

Hooks emit these metrics, the generator's rules query them and the webhook reads these labels. Users'
dashboards and alerts depend on them, so nothing else in the package spells them out as string literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

INSTRUMENTATION_SCOPE = "otel_ai_incident"


class InstrumentKind(StrEnum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    UP_DOWN_COUNTER = "up_down_counter"


# Attribute names (OpenTelemetry GenAI semantic conventions where they exist).
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
# Input tokens read from or written to a provider's prompt cache (counted in gen_ai.usage.input_tokens too).
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_GUARDIAN_NAME = "gen_ai.guardian.name"
GEN_AI_SECURITY_TARGET_TYPE = "gen_ai.security.target.type"
GEN_AI_SECURITY_DECISION_TYPE = "gen_ai.security.decision.type"
GEN_AI_SECURITY_SCORE = "gen_ai.security.score"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ENDUSER_PSEUDO_ID = "enduser.pseudo.id"
ERROR_TYPE = "error.type"
AI_SYSTEM_PROMPT_HASH = "ai.system_prompt.hash"
AI_PROMPT_LOG_ID = "ai.prompt_log.id"
AI_TOOL_WRITES = "ai.tool.writes"
AI_TOOL_ANOMALY_SCORE = "ai.tool.anomaly_score"
AI_CONTAINMENT_ACTION = "ai.containment.action"
AI_USER_REPORT_SEVERITY = "ai.user_report.severity"  # on the gen_ai.evaluation.result event of a report
AI_TOOL_CALL_REQUESTED = "ai.tool_call.requested"  # span event: the model asked for a tool (not its execution)

# Metric attribute names that are not semantic-convention attributes.
OUTCOME = "outcome"
GUARDRAIL = "guardrail"
STAGE = "stage"
DECISION = "decision"
ENTITY_TYPE = "entity_type"
ACTION = "action"
KIND = "kind"
SEVERITY = "severity"
REASON = "reason"
COMPONENT = "component"

OPERATION_CHAT = "chat"
# The other inference operations of the conventions (a GenAI span bridged into our metrics is one of these).
OPERATION_TEXT_COMPLETION = "text_completion"
OPERATION_GENERATE_CONTENT = "generate_content"
# The provider attribute of the conventions before `gen_ai.provider.name` (still emitted by some instrumentations).
GEN_AI_SYSTEM = "gen_ai.system"
# `error.type` when an error's type is unknown (the conventions' fallback value).
ERROR_TYPE_OTHER = "_OTHER"
OPERATION_EXECUTE_TOOL = "execute_tool"
OPERATION_INVOKE_AGENT = "invoke_agent"  # the turn's span: the app's work around its model calls
OPERATION_APPLY_GUARDRAIL = "apply_guardrail"
OPERATION_RUN_GUARDRAIL = "run_guardrail"
# Events (log records with an event name) of the GenAI conventions.
EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result"
EVENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details"
EVALUATION_USER_FEEDBACK = "user_feedback"  # gen_ai.evaluation.name of a user's report
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"


class TurnOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    CONTAINED = "contained"


class ToolOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    BLOCKED = "blocked"


class Stage(StrEnum):
    INPUT = "input"
    OUTPUT = "output"
    TOOL = "tool"


class Decision(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"


class Severity(StrEnum):
    P1 = "p1"
    P2 = "p2"
    P3 = "p3"


# Guardrails built into the package.
GUARDRAIL_PII = "pii"
GUARDRAIL_TOOL_ANOMALY = "tool_anomaly"

# User-report kinds known up front (their series exist from start-up); apps may send others.
REPORT_KIND_HARMFUL = "harmful"
DEFAULT_REPORT_KINDS = (REPORT_KIND_HARMFUL, "inappropriate", "incorrect", "privacy")


class PromptLogDropReason(StrEnum):
    QUEUE_FULL = "queue_full"
    STORE_ERROR = "store_error"
    SHUTDOWN = "shutdown"
    #: Still kept for a retry when close() stopped waiting for an unavailable store.
    STORE_UNAVAILABLE = "store_unavailable"


class ContainmentActionName(StrEnum):
    RATE_LIMIT_USER = "rate_limit_user"
    DISABLE_TOOL = "disable_tool"
    TIGHTEN_GUARDRAIL = "tighten_guardrail"
    ROLLBACK_MODEL = "rollback_model"
    ROLLBACK_PROMPT = "rollback_prompt"
    KILL_SWITCH = "kill_switch"
    RESTRICT_TO_READ_ONLY = "restrict_to_read_only"


# Histogram boundaries from the GenAI semantic conventions (seconds, tokens) and for [0, 1] scores.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 180.0)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
SCORE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the contract: the OpenTelemetry instrument and the name Prometheus gives it."""

    name: str
    kind: InstrumentKind
    unit: str
    description: str
    attributes: tuple[str, ...]
    prometheus: str
    buckets: tuple[float, ...] | None = None
    conditional: tuple[str, ...] = ()  # attributes present only when known (the response model, an error)

    @property
    def labels(self) -> tuple[str, ...]:
        """Prometheus label names: attribute dots become underscores."""
        return tuple(a.replace(".", "_") for a in self.attributes)

    @property
    def conditional_labels(self) -> tuple[str, ...]:
        return tuple(a.replace(".", "_") for a in self.conditional)


# The model call's duration and token metrics: their names depend on the convention generation (below).
_INFERENCE_ATTRIBUTES = (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    SERVER_ADDRESS,
    SERVER_PORT,
    ERROR_TYPE,
)
_CONDITIONAL = (GEN_AI_RESPONSE_MODEL, SERVER_ADDRESS, SERVER_PORT, ERROR_TYPE)
OPERATION_DURATION = MetricSpec(
    name="gen_ai.client.operation.duration",
    kind=InstrumentKind.HISTOGRAM,
    unit="s",
    description="Duration of a model call",
    attributes=_INFERENCE_ATTRIBUTES,
    prometheus="gen_ai_client_operation_duration_seconds",
    buckets=DURATION_BUCKETS,
    conditional=_CONDITIONAL,
)
TOKEN_USAGE = MetricSpec(
    name="gen_ai.client.token.usage",
    kind=InstrumentKind.HISTOGRAM,
    unit="{token}",
    description="Tokens used per model call, by token type",
    attributes=(*_INFERENCE_ATTRIBUTES[:-1], GEN_AI_TOKEN_TYPE),
    prometheus="gen_ai_client_token_usage",
    buckets=TOKEN_BUCKETS,
    conditional=_CONDITIONAL,
)
INFERENCE_DURATION = MetricSpec(
    name="gen_ai.client.inference.duration",
    kind=InstrumentKind.HISTOGRAM,
    unit="s",
    description="Duration of a model call",
    attributes=_INFERENCE_ATTRIBUTES,
    prometheus="gen_ai_client_inference_duration_seconds",
    buckets=DURATION_BUCKETS,
    conditional=_CONDITIONAL,
)
INFERENCE_INPUT_TOKENS = MetricSpec(
    name="gen_ai.client.inference.usage.input_tokens",
    kind=InstrumentKind.COUNTER,
    unit="{token}",
    description="Input tokens used by model calls",
    attributes=_INFERENCE_ATTRIBUTES[:-1],
    prometheus="gen_ai_client_inference_usage_input_tokens_total",
    conditional=_CONDITIONAL,
)
INFERENCE_OUTPUT_TOKENS = MetricSpec(
    name="gen_ai.client.inference.usage.output_tokens",
    kind=InstrumentKind.COUNTER,
    unit="{token}",
    description="Output tokens used by model calls",
    attributes=_INFERENCE_ATTRIBUTES[:-1],
    prometheus="gen_ai_client_inference_usage_output_tokens_total",
    conditional=_CONDITIONAL,
)
TURNS = MetricSpec(
    name="ai.turns",
    kind=InstrumentKind.COUNTER,
    unit="{turn}",
    description="LLM turns by outcome",
    attributes=(GEN_AI_REQUEST_MODEL, OUTCOME),
    prometheus="ai_turns_total",
)
GUARDRAIL_DECISIONS = MetricSpec(
    name="ai.guardrail.decisions",
    kind=InstrumentKind.COUNTER,
    unit="{decision}",
    description="Guardrail decisions",
    attributes=(GUARDRAIL, STAGE, DECISION),
    prometheus="ai_guardrail_decisions_total",
)
PII_DETECTIONS = MetricSpec(
    name="ai.pii.detections",
    kind=InstrumentKind.COUNTER,
    unit="{detection}",
    description="PII entities detected, by what was done",
    attributes=(STAGE, ENTITY_TYPE, ACTION),
    prometheus="ai_pii_detections_total",
)
USER_REPORTS = MetricSpec(
    name="ai.user.reports",
    kind=InstrumentKind.COUNTER,
    unit="{report}",
    description="Reports of bad answers by users",
    attributes=(KIND, SEVERITY),
    prometheus="ai_user_reports_total",
)
REFUSALS = MetricSpec(
    name="ai.refusals",
    kind=InstrumentKind.COUNTER,
    unit="{refusal}",
    description="Turns the model refused",
    attributes=(GEN_AI_REQUEST_MODEL,),
    prometheus="ai_refusals_total",
)
TOOL_CALLS = MetricSpec(
    name="ai.tool.calls",
    kind=InstrumentKind.COUNTER,
    unit="{call}",
    description="Tool calls by outcome",
    attributes=(GEN_AI_TOOL_NAME, OUTCOME),
    prometheus="ai_tool_calls_total",
)
TOOL_ANOMALY_SCORE = MetricSpec(
    name="ai.tool.call.anomaly_score",
    kind=InstrumentKind.HISTOGRAM,
    unit="",
    description="How unusual a tool call's arguments are (0 normal, 1 never seen)",
    attributes=(GEN_AI_TOOL_NAME,),
    prometheus="ai_tool_call_anomaly_score",
    buckets=SCORE_BUCKETS,
)
CONTAINMENT_ACTIVE = MetricSpec(
    name="ai.containment.active",
    kind=InstrumentKind.UP_DOWN_COUNTER,
    unit="{action}",
    description="Containment actions in force",
    attributes=(ACTION,),
    prometheus="ai_containment_active",
)
CONTAINMENT_ENFORCED = MetricSpec(
    name="ai.containment.enforced",
    kind=InstrumentKind.COUNTER,
    unit="{enforcement}",
    description="Times the gate refused or changed something because of containment",
    attributes=(ACTION,),
    prometheus="ai_containment_enforced_total",
)
PROMPT_LOG_DROPPED = MetricSpec(
    name="ai.prompt_log.dropped",
    kind=InstrumentKind.COUNTER,
    unit="{entry}",
    description="Prompt-log entries lost, by reason",
    attributes=(REASON,),
    prometheus="ai_prompt_log_dropped_total",
)
INSTRUMENTATION_ERRORS = MetricSpec(
    name="ai.instrumentation.errors",
    kind=InstrumentKind.COUNTER,
    unit="{error}",
    description="Errors inside otel-ai-incident's own code, caught so they never reach the app",
    attributes=(COMPONENT,),
    prometheus="ai_instrumentation_errors_total",
)

# The metrics every generation emits alike.
COMMON_METRICS: tuple[MetricSpec, ...] = (
    TURNS,
    GUARDRAIL_DECISIONS,
    PII_DETECTIONS,
    USER_REPORTS,
    REFUSALS,
    TOOL_CALLS,
    TOOL_ANOMALY_SCORE,
    CONTAINMENT_ACTIVE,
    CONTAINMENT_ENFORCED,
    PROMPT_LOG_DROPPED,
    INSTRUMENTATION_ERRORS,
)

# Alert labels and annotations every generated alert carries; the webhook reads them.
ALERT_LABEL_SIGNAL = "signal"
ALERT_LABEL_PRIORITY = "priority"  # the catalogue's p1/p2/p3: what the receiver's playbooks act on
ALERT_LABEL_SEVERITY = "severity"  # critical/warning/info, what Alertmanager routes and silences expect
ALERT_LABEL_INCIDENT_TYPE = "incident_type"
ALERT_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")
# Prometheus' own series of every pending and firing alert, and the labels it adds (the dashboard reads them).
PROMETHEUS_ALERTS = "ALERTS"
ALERT_LABEL_NAME = "alertname"
ALERT_LABEL_STATE = "alertstate"


class IncidentType(StrEnum):
    SAFETY_VIOLATION = "safety_violation"
    DATA_LEAKAGE = "data_leakage"
    AGENTIC_HARM = "agentic_harm"
    JAILBREAK_WAVE = "jailbreak_wave"


# Environment variables of our own (the standard OTEL_* ones are read where they are used).
ENV_PROMPT_LOG = "AII_PROMPT_LOG"
ENV_PROMPT_LOG_RETENTION_DAYS = "AII_PROMPT_LOG_RETENTION_DAYS"
ENV_PSEUDONYM_KEY = "AII_PSEUDONYM_KEY"
ENV_PSEUDONYM_KEY_FILE = "AII_PSEUDONYM_KEY_FILE"
ENV_CONTAINMENT = "AII_CONTAINMENT"
ENV_REQUIRE_E2E = "AII_REQUIRE_E2E"
# Where the browser tests leave their screenshots (default: test-artifacts/ in the repository).
ENV_TEST_ARTIFACTS = "AII_TEST_ARTIFACTS"
DEFAULT_PROMPT_LOG = "sqlite:///ai_prompt_log.db"
DEFAULT_PSEUDONYM_KEY_FILE = "ai_pseudonym.key"
DEFAULT_CONTAINMENT = "sqlite:///ai_containment.db"
DEFAULT_RETENTION_DAYS = 30
DEFAULT_PROMETHEUS_PORT = 9464

# The webhook receiver's settings (credentials, its incident store) and the test hook that pauses its act step.
ENV_WEBHOOK_TOKEN = "AII_WEBHOOK_TOKEN"
ENV_WEBHOOK_TOKEN_FILE = "AII_WEBHOOK_TOKEN_FILE"
ENV_INCIDENTS = "AII_INCIDENTS"
ENV_RECEIVER_ACT_DELAY = "AII_RECEIVER_ACT_DELAY"
DEFAULT_INCIDENTS = "sqlite:///ai_incidents.db"

# Metrics of a multi-worker server (gunicorn, `uvicorn --workers N`): the directory where each worker leaves its
# metrics for the one serving /metrics. Ours wins; prometheus_client's multiprocess variable, which gunicorn users
# already set, switches it on too.
ENV_METRICS_DIR = "AII_METRICS_DIR"
ENV_PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
COMPONENT_WORKER_METRICS = "worker_metrics"  # the `component` of ai_instrumentation_errors_total for that exchange
# The in-app gate's first load of the containment state: how long the first turn waits for it, whether it
# refuses turns (fail closed) rather than letting them through (fail open) when the state has not loaded by
# then, and, for a state read over HTTP, how many replicas share each rate limit.
ENV_CONTAINMENT_LOAD_TIMEOUT = "AII_CONTAINMENT_LOAD_TIMEOUT_S"
ENV_CONTAINMENT_FAIL_CLOSED = "AII_CONTAINMENT_FAIL_CLOSED"
ENV_CONTAINMENT_REPLICAS = "AII_CONTAINMENT_REPLICAS"
DEFAULT_CONTAINMENT_LOAD_TIMEOUT_S = 2.0
# How often the gate looks for a change (a local database is re-read on the turn path at most this often, a
# receiver polled in the background): a change is enforced within it.
ENV_CONTAINMENT_REFRESH = "AII_CONTAINMENT_REFRESH_S"
DEFAULT_CONTAINMENT_REFRESH_S = 1.0
# How long the prompt log's writer lets entries gather before writing a batch (OpenTelemetry's batch
# processors call it the schedule delay): what a hard kill of the app can lose.
ENV_PROMPT_LOG_FLUSH = "AII_PROMPT_LOG_FLUSH_S"
DEFAULT_PROMPT_LOG_FLUSH_S = 0.1

# What an erased user's pseudonym is replaced with wherever a store keeps a record that names it.
ERASED_MARKER = "[erased]"

# Credentials per role of the receiver (see containment.tokens): the app's gate reads the containment state with
# the reader token, operators lift and read incidents with the operator token; AII_WEBHOOK_TOKEN[_FILE] stays
# Alertmanager's, and stands in for a role whose own token is not set.
ENV_READER_TOKEN = "AII_READER_TOKEN"
ENV_READER_TOKEN_FILE = "AII_READER_TOKEN_FILE"
ENV_OPERATOR_TOKEN = "AII_OPERATOR_TOKEN"
ENV_OPERATOR_TOKEN_FILE = "AII_OPERATOR_TOKEN_FILE"
# Read-only people in the incident console: they log in with this token, see the pages and change nothing. Unlike
# the other roles it never falls back to Alertmanager's token: without its own, nobody logs in as a viewer.
ENV_VIEWER_TOKEN = "AII_VIEWER_TOKEN"
ENV_VIEWER_TOKEN_FILE = "AII_VIEWER_TOKEN_FILE"
# The incident console's session signing secret (a file), so sessions survive a restart and hold on every
# receiver sharing it; without it each process draws its own. AII_CONSOLE_SECURE_COOKIES=1 marks the session
# cookie `Secure` when a TLS proxy in front of the receiver speaks plain HTTP to it.
ENV_CONSOLE_SECRET_FILE = "AII_CONSOLE_SECRET_FILE"
ENV_CONSOLE_SECURE_COOKIES = "AII_CONSOLE_SECURE_COOKIES"

# Updates pushed to the team by the receiver (`serve --notify FILE`): the file's variable, and the delivery
# metrics with their labels. `target` is a name from the notify file, `event` a NotificationEvent value.
ENV_NOTIFY_FILE = "AII_NOTIFY_FILE"
TARGET = "target"
EVENT = "event"
NOTIFICATIONS_SENT = "aii_notifications"  # a counter: exposed as aii_notifications_total
NOTIFICATION_OUTBOX_PENDING = "aii_notification_outbox_pending"
NOTIFICATION_OUTBOX_OLDEST_AGE = "aii_notification_outbox_oldest_pending_age_seconds"
NOTIFIER_ERRORS = "aii_notifier_errors"  # a counter: rounds in which the outbox could not be worked on

# The receiver deletes finished work from its queues (the inbox's notifications, the outbox's updates) once it
# is older than `serve --keep-finished-days` (this variable, else the default); unfinished work is never deleted.
ENV_KEEP_FINISHED_DAYS = "AII_KEEP_FINISHED_DAYS"
DEFAULT_KEEP_FINISHED_DAYS = 7
QUEUE = "queue"
PRUNED_ROWS = "aii_pruned_rows"  # a counter: exposed as aii_pruned_rows_total
PRUNE_ERRORS = "aii_prune_errors"  # a counter: prune runs that failed (retried at the next run)


class PrunedQueue(StrEnum):
    INBOX = "inbox"  # the receiver's notifications
    OUTBOX = "outbox"  # the incident store's updates for the team, with their deliveries


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRYING = "retrying"  # this attempt failed; the update is retried later
    GAVE_UP = "gave_up"  # the last attempt failed (max attempts or age reached); on the incident's timeline


# -- Generations of the GenAI semantic conventions -----------------------------------------------------------
#
# The conventions moved to the open-telemetry/semantic-conventions-genai repository and renamed what
# dashboards and alerts query. OTEL_SEMCONV_STABILITY_OPT_IN selects what is emitted, as in
# opentelemetry-python-contrib: nothing (today's names, v1.41.0 of semantic-conventions), the token
# `gen_ai_latest_experimental` (the repository's current names), or `gen_ai/dup` for both at once during a
# migration. The GenAI conventions define no `/dup` token of their own; `gen_ai/dup` is ours, spelled like
# the `http/dup` and `database/dup` of the HTTP and database conventions. The hooks and the generator both
# resolve names through `Generation`, so rules, rule tests and dashboards follow the setting.

ENV_SEMCONV_STABILITY_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
ENV_CAPTURE_MESSAGE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
SEMCONV_OPT_IN_LATEST = "gen_ai_latest_experimental"
SEMCONV_OPT_IN_DUP = "gen_ai/dup"


class ContentCapture(StrEnum):
    """Where message content goes (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, current conventions)."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_span(self) -> bool:
        return self in (ContentCapture.SPAN_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def in_event(self) -> bool:
        return self in (ContentCapture.EVENT_ONLY, ContentCapture.SPAN_AND_EVENT)


@dataclass(frozen=True)
class GuardrailVocabulary:
    """How a guardrail check is named on its span. EXPERIMENTAL: no guardrail convention is merged, and no
    published generation of the GenAI conventions has one. Both generations follow the open proposal,
    semantic-conventions-genai PR 427 (`run_guardrail`, `gen_ai.guardrail.*`); the names of the closed
    semantic-conventions PR 3233 (`apply_guardrail`, `gen_ai.security.*`), which earlier releases emitted,
    are added under dual emission (`gen_ai/dup`) for queries still reading them."""

    operation: str  # gen_ai.operation.name, and the span name's first word
    component: str  # the attribute naming the guardrail
    target_type: str
    target_subtype: str | None
    verdict: str
    action: str | None
    score: str
    targets: dict[str, tuple[str, str | None]]  # our stage -> (target type, target subtype)
    verdicts: dict[str, str]  # our decision -> verdict
    actions: dict[str, str]  # our decision -> what the caller enforced


GUARDRAIL_PR_3233 = GuardrailVocabulary(
    operation=OPERATION_APPLY_GUARDRAIL,
    component=GEN_AI_GUARDIAN_NAME,
    target_type=GEN_AI_SECURITY_TARGET_TYPE,
    target_subtype=None,
    verdict=GEN_AI_SECURITY_DECISION_TYPE,
    action=None,
    score=GEN_AI_SECURITY_SCORE,
    targets={
        Stage.INPUT.value: ("llm_input", None),
        Stage.OUTPUT.value: ("llm_output", None),
        Stage.TOOL.value: ("tool_call", None),
    },
    verdicts={
        Decision.ALLOW.value: "allow",
        Decision.BLOCK.value: "deny",
        Decision.REDACT.value: "modify",
        Decision.FLAG.value: "warn",
    },
    actions={},
)
GUARDRAIL_PR_427 = GuardrailVocabulary(
    operation=OPERATION_RUN_GUARDRAIL,
    component="gen_ai.guardrail.component.name",
    target_type="gen_ai.guardrail.target.type",
    target_subtype="gen_ai.guardrail.target.subtype",
    verdict="gen_ai.guardrail.verdict.type",
    action="gen_ai.guardrail.action.type",
    score="gen_ai.guardrail.security.risk.score",
    targets={
        Stage.INPUT.value: ("input", "llm"),
        Stage.OUTPUT.value: ("output", "llm"),
        Stage.TOOL.value: ("input", "tool_call"),
    },
    verdicts={
        Decision.ALLOW.value: "allow",
        Decision.BLOCK.value: "deny",
        Decision.REDACT.value: "modify",
        Decision.FLAG.value: "warn",
    },
    # A flag is recorded, not enforced: the caller lets the content through.
    actions={
        Decision.ALLOW.value: "allow",
        Decision.BLOCK.value: "block",
        Decision.REDACT.value: "modify",
        Decision.FLAG.value: "allow",
    },
)


@dataclass(frozen=True)
class Generation:
    """The names one generation of the GenAI conventions gives what the model call and guardrails emit."""

    key: str  # "default" or "latest": what `generate --semconv` takes
    duration: MetricSpec
    input_tokens: MetricSpec
    output_tokens: MetricSpec
    guardrail: GuardrailVocabulary
    schema_url: str
    content_values: dict[str, ContentCapture]  # OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, upper-cased

    @property
    def token_type_attribute(self) -> bool:
        """True when both token kinds share one histogram told apart by gen_ai.token.type."""
        return self.input_tokens is self.output_tokens

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        specs = (self.duration, self.input_tokens, self.output_tokens)
        return tuple(dict.fromkeys(specs))

    def content_capture(self, value: str | None) -> ContentCapture | None:
        """The capture mode a setting names in this generation; None when it names none here."""
        return self.content_values.get((value or "").strip().upper())


DEFAULT_GENERATION = Generation(
    key="default",
    duration=OPERATION_DURATION,
    input_tokens=TOKEN_USAGE,
    output_tokens=TOKEN_USAGE,
    guardrail=GUARDRAIL_PR_427,
    schema_url="https://opentelemetry.io/schemas/1.41.0",
    # Today's conventions know only on and off, and "on" puts content on the span.
    content_values={
        "": ContentCapture.NO_CONTENT,
        "FALSE": ContentCapture.NO_CONTENT,
        "TRUE": ContentCapture.SPAN_ONLY,
    },
)
LATEST_GENERATION = Generation(
    key="latest",
    duration=INFERENCE_DURATION,
    input_tokens=INFERENCE_INPUT_TOKENS,
    output_tokens=INFERENCE_OUTPUT_TOKENS,
    guardrail=GUARDRAIL_PR_427,
    # The GenAI repository publishes no schema file of its own yet: the newest published one is named.
    schema_url="https://opentelemetry.io/schemas/1.41.0",
    content_values={"": ContentCapture.NO_CONTENT, **{mode.value: mode for mode in ContentCapture}},
)
GENERATIONS = {g.key: g for g in (DEFAULT_GENERATION, LATEST_GENERATION)}
SEMCONV_CHOICES = ("default", "latest", "dup")  # `generate --semconv`


def generations_from_opt_in(opt_in: str | None) -> tuple[Generation, ...]:
    """What OTEL_SEMCONV_STABILITY_OPT_IN selects: a comma-separated list where `gen_ai/dup` wins over
    `gen_ai_latest_experimental` (as `http/dup` over `http`); anything else leaves today's names."""
    tokens = {token.strip() for token in (opt_in or "").split(",")}
    if SEMCONV_OPT_IN_DUP in tokens:
        return (DEFAULT_GENERATION, LATEST_GENERATION)
    if SEMCONV_OPT_IN_LATEST in tokens:
        return (LATEST_GENERATION,)
    return (DEFAULT_GENERATION,)


def generations_from_choice(choice: str) -> tuple[Generation, ...]:
    """What `generate --semconv default|latest|dup` selects."""
    if choice == "dup":
        return (DEFAULT_GENERATION, LATEST_GENERATION)
    return (GENERATIONS[choice],)


def guardrail_vocabularies(generations: tuple[Generation, ...]) -> tuple[GuardrailVocabulary, ...]:
    """The guardrail span vocabularies to emit, the one naming the span last (see GuardrailVocabulary)."""
    chosen = [GUARDRAIL_PR_3233] if len(generations) > 1 else []
    for generation in generations:
        if all(generation.guardrail is not known for known in chosen):
            chosen.append(generation.guardrail)
    return tuple(chosen)


def metrics_for(generations: tuple[Generation, ...] = (DEFAULT_GENERATION,)) -> tuple[MetricSpec, ...]:
    """Every metric the hooks emit under these generations."""
    specs = [spec for generation in generations for spec in generation.metrics]
    return (*dict.fromkeys(specs), *COMMON_METRICS)


METRICS: tuple[MetricSpec, ...] = metrics_for()  # what the default generation emits
ALL_GENERATIONS = (DEFAULT_GENERATION, LATEST_GENERATION)
ALL_METRICS: tuple[MetricSpec, ...] = metrics_for(ALL_GENERATIONS)  # what some generation emits

# Prometheus series names a query may use: histograms expose _bucket/_sum/_count.
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def prometheus_series_names(generations: tuple[Generation, ...] = (DEFAULT_GENERATION,)) -> frozenset[str]:
    """Every series name the hooks expose to Prometheus, for checking rules and dashboards against."""
    names: set[str] = set()
    for spec in metrics_for(generations):
        if spec.kind is InstrumentKind.HISTOGRAM:
            names.update(spec.prometheus + suffix for suffix in _HISTOGRAM_SUFFIXES)
        else:
            names.add(spec.prometheus)
    return frozenset(names)
