"""Scripts of the synthetic sample calls (text, roles, pauses, planted violations)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Turn:
    role: str  # agent | customer
    text: str
    pause_s: float = 0.6  # silence after this turn
    overlap_s: float = 0.0  # this turn starts this long before the previous one ends


@dataclass(frozen=True)
class Call:
    name: str
    language: str
    tenant: str
    layout: str  # stereo | mono
    sample_rate_hz: int
    turns: tuple[Turn, ...]
    expected: dict[str, str] = field(default_factory=dict)
    agent_channel: str = "left"
    subtype: str = "PCM_16"
    customer_pitch_cents: int = -450
    agent_id: str = "agent-001"
    team_id: str = "team-a"
    started_at: str = "2026-11-02T09:00:00+08:00"


A, C = "agent", "customer"

CALLS: tuple[Call, ...] = (
    Call(
        name="zh_good_stereo_8k",
        language="zh", tenant="default", layout="stereo", sample_rate_hz=8000,
        agent_id="agent-001", team_id="team-a", started_at="2026-11-02T09:05:00+08:00",
        turns=(
            Turn(A, "您好，很高兴为您服务，我是客服小王，请问有什么可以帮您？"),
            Turn(C, "你好，我想查一下我上个月的话费账单。"),
            Turn(A, "好的，为了保护您的账户安全，请先提供一下您的身份证后四位。"),
            Turn(C, "后四位是三五七九。"),
            Turn(A, "好的，身份已经核实，谢谢您。您上个月的账单是八十六元。"),
            Turn(C, "好的，明白了。"),
            Turn(A, "请问还有其他可以帮您的吗？"),
            Turn(C, "没有了，谢谢。"),
            Turn(A, "感谢您的来电，祝您生活愉快，再见。"),
        ),
        expected={"greeting": "pass", "identity_verification": "pass",
                  "forbidden_phrases": "pass", "abusive_language": "pass",
                  "unauthorized_promise": "pass", "empathy_on_complaint": "not_applicable",
                  "closing": "pass", "dead_air": "pass", "interruption": "pass",
                  "customer_complaint": "pass",
                  "customer_sentiment_end": "pass"},
    ),
    Call(
        name="zh_bad_mono_16k",
        language="zh", tenant="default", layout="mono", sample_rate_hz=16000,
        agent_id="agent-002", team_id="team-a", started_at="2026-11-02T10:30:00+08:00",
        turns=(
            Turn(C, "喂，你好？"),
            Turn(A, "喂，说吧。"),
            Turn(C, "我的快递三天了还没到，我要投诉你们！"),
            Turn(A, "您的账户余额是三百二十元，订单已经发货了。"),
            Turn(C, "那到底什么时候能到？"),
            Turn(A, "这个我也不知道，这不归我管。"),
            Turn(C, "你们这服务太差了。"),
            Turn(A, "那我保证明天给您送到，再给您赔偿两百元。"),
            Turn(C, "行吧。"),
        ),
        expected={"greeting": "fail", "identity_verification": "fail",
                  "forbidden_phrases": "fail", "abusive_language": "pass",
                  "unauthorized_promise": "fail", "empathy_on_complaint": "fail",
                  "closing": "fail", "dead_air": "pass", "interruption": "pass",
                  "customer_complaint": "fail",
                  "customer_sentiment_end": "fail"},
    ),
    Call(
        name="en_good_mono_8k",
        language="en", tenant="default", layout="mono", sample_rate_hz=8000, subtype="ULAW",
        customer_pitch_cents=400,
        agent_id="agent-003", team_id="team-b", started_at="2026-11-02T11:00:00+00:00",
        turns=(
            Turn(A, "Thank you for calling Acme support, my name is Sam. "
                    "How can I help you today?"),
            Turn(C, "Hi, I would like to check the status of my order."),
            Turn(A, "Sure. Before I look at your account, "
                    "can you please verify your date of birth?"),
            Turn(C, "It is the third of May, nineteen ninety."),
            Turn(A, "Thank you, you are verified. Your order was shipped yesterday."),
            Turn(C, "Great, thanks."),
            Turn(A, "Is there anything else I can help you with?"),
            Turn(C, "No, that is all."),
            Turn(A, "Thank you for calling, have a great day."),
        ),
        expected={"greeting": "pass", "identity_verification": "pass",
                  "forbidden_phrases": "pass", "abusive_language": "pass",
                  "unauthorized_promise": "pass", "empathy_on_complaint": "not_applicable",
                  "closing": "pass", "dead_air": "pass", "interruption": "pass",
                  "customer_complaint": "pass",
                  "customer_sentiment_end": "pass"},
    ),
    Call(
        name="en_bad_stereo_8k",
        language="en", tenant="default", layout="stereo", sample_rate_hz=8000,
        customer_pitch_cents=400,
        agent_id="agent-004", team_id="team-b", started_at="2026-11-02T14:20:00+00:00",
        turns=(
            Turn(C, "Hello? I have been waiting for an hour."),
            Turn(A, "Yeah, what do you want?"),
            Turn(C, "My refund never arrived and I want to make a complaint.", 0.2),
            Turn(A, "Your account balance is two hundred dollars.", 9.0, overlap_s=1.4),
            Turn(C, "Hello? Are you still there?"),
            Turn(A, "That is a stupid question. I do not know."),
            Turn(C, "This is ridiculous."),
            Turn(A, "Fine, I guarantee you will get a full refund tomorrow."),
        ),
        expected={"greeting": "fail", "identity_verification": "fail",
                  "forbidden_phrases": "fail", "abusive_language": "fail",
                  "unauthorized_promise": "fail", "empathy_on_complaint": "fail",
                  "closing": "fail", "dead_air": "fail", "interruption": "fail",
                  "customer_complaint": "fail",
                  "customer_sentiment_end": "fail"},
    ),
    Call(
        name="zh_express_stereo_8k",
        language="zh", tenant="swift_express", layout="stereo", sample_rate_hz=8000,
        agent_channel="right", subtype="ALAW",
        agent_id="agent-001", team_id="team-express", started_at="2026-11-02T16:45:00+08:00",
        turns=(
            Turn(A, "您好，迅捷快递，很高兴为您服务，请问有什么可以帮您？"),
            Turn(C, "我的包裹显示已签收，但是我根本没收到，我要投诉。"),
            Turn(A, "非常抱歉给您带来不便，请您提供一下运单号和收件人手机号后四位。"),
            Turn(C, "运单号是七七八八九九，手机后四位是一二三四。"),
            Turn(A, "好的，已经核实。我马上联系派送的快递员，帮您核查包裹的去向。"),
            Turn(C, "好的，尽快吧。"),
            Turn(A, "我们会在二十四小时内给您回复。请问还有其他可以帮您的吗？"),
            Turn(C, "没有了。"),
            Turn(A, "感谢您的来电，再见。"),
        ),
        expected={"greeting": "pass", "identity_verification": "pass",
                  "forbidden_phrases": "pass", "abusive_language": "pass",
                  "unauthorized_promise": "pass", "empathy_on_complaint": "pass",
                  "closing": "pass", "dead_air": "pass", "interruption": "pass",
                  "customer_complaint": "fail",
                  "customer_sentiment_end": "pass"},
    ),
)
