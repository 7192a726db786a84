"""A change said but not asked for: refused or held ("never promote x", "roll back x. just
kidding"), asked about ("shall we promote x?", "did we stop the canary?"), someone else's words
("the runbook says roll back x") or a choice left to the chat ("canary or rollback, whichever is
safer"). Whichever reader read the change (the rules, a part of a message, an LLM), the chat
proposes nothing then; a human approves only what was asked for."""

from __future__ import annotations

import re

from agent import phrases as P
from agent.conditions import condition_span
from agent.slots import CODE


def not_asked_for(kinds: list[str], text: str) -> str | None:
    """Why ``text`` does not ask for the change(s) of ``kinds`` read in it, as words that
    finish "That ..." (None when it does ask)."""
    for kind in kinds:
        if (held := held_words(kind, text)) is not None:
            return f"says '{held}'"
    if ASK_LATER.search(text) or _CHANGE_LATER.search(text):
        return "tells of a change to be asked for later"  # "before I ask for v4 to go to prod: ..."
    if (unplain := described_not_plain(text)) is not None:
        return f"describes a change and says '{unplain}'"
    if _CHOICE.search(text):
        return "leaves the choice of change to me"
    if _SAID_BY.search(text):
        return "reports someone else's words"  # "switch x back, Bob said."
    if _only_quoted(text):
        return "quotes someone else's words"  # 'the ticket says "roll back x if ..."'
    if _CONFIRMING.search(text):
        return "asks about a change"  # "canary x v3 off, right?"
    if _NOT_NOW.search(text):
        return "says not now"  # "promote x v2 ... After Friday, not now.", "nothing to do now"
    if (nobody := _NOBODY.search(text)) and not (
        _THEN_ASKED.search(text, nobody.end())
        # "nobody can promote until the freeze ends, then promote x": after the freeze
        and not re.search(r"\buntil\b[^,;.]*[,;.]\s*then\b", text, re.I)
    ):
        return "says nobody should make it"  # "lock x so nobody can promote anything"
    if _NOT_TO_RUN.search(text):
        return "says not to run it"  # "canary x v3 --percent 10 # just testing, don't run"
    if _RECORD_LINE.search(text):
        return "quotes a record of a change"  # "log: 2026-12-05T10:00Z ... promote x v3 user=bob"
    if _UNSURE.search(text):
        return "says it is not sure the change should be made"  # "..., but I'm not sure I should"
    if _ONLY_ASKING.search(text):
        return "says it only asks"  # "would a rollback of x even be possible? just asking"
    if P.OPINION.search(text):
        return "asks what I think of it"  # "Roll back x? what do you think?"
    if _supposed(text) or _HYPOTHETICAL.search(text):
        return "supposes a change"
    if (asked := _WHETHER_TO.search(text)) is not None and not _ASKED_AFTER.search(
        text, asked.end()
    ):
        return "asks whether to make it"  # "whether we should roll back x is the question"
    if _IS_IT_SAFE.search(text):
        return "asks whether the change is safe"  # "promote x v4 to prod, is that safe?"
    if _PROCESS_QUESTION.search(text):
        return "asks how changes are made"  # "can I promote x v3 straight to production or
        # does it have to go through staging first?"
    if _DELEGATED.search(text):
        return "asks someone else to make it"  # "ask Dana to promote x v4 to prod"
    if _only_reported(text):
        return "reports a change already made"  # "we promoted x v3 to staging yesterday"
    if CANCELLED.search(text) and not any(
        verb.search(CANCELLED.sub(" ", text)) for verb in (*_VERBS, P.RESHARE)
    ):
        # "cancel the rollback of x", "undo the promotion": not the change it names
        return (
            "asks to cancel or undo a change; a pending one is denied at its approval form, "
            "one already made is undone by asking for the change back (a rollback, or promoting "
            "the version again)"
        )
    if _STATUS_OF.search(text):
        return "asks how a change stands"  # "mnist-cnn rollback status"
    if _CANARY_KEPT_FOR.search(text):
        return "asks to keep the canary as it is"  # "keep the canary so we can roll back later"
    if _only_planned_or_standing(text):
        return "tells of a change planned or ready, not one asked for now"
    if CANARY_STATE.search(text) and not any(
        verb.search(CANARY_STATE.sub(" ", text)) for verb in (*_VERBS, P.RESHARE)
    ):
        return "says how a canary stands, not a change to make"  # "the x v3 canary is at 10%"
    # A pasted change (`promote x v3 -> Staging by bob`) is evidence, not the verb asked with.
    said = CODE.sub(" <pasted> ", text)
    verb = next((m for p in _VERBS if (m := p.search(said)) is not None), None)
    if verb is not None:
        sentence = re.split(r"[.!?;]\s+", said[: verb.start()])[-1]
        # "what serves critical requests on digits, and roll that model back": a question,
        # then the change in a clause of its own (never "what if ..., and we roll back").
        clause = _THEN_CHANGE.search(sentence)
        rest = said[verb.start() :]
        split = clause is not None and _WH_QUESTION.match(sentence) is not None
        if split and clause is not None:
            if _ASKED_OR_HELD_AFTER.search(rest):
                return "asks about a change"  # "what serves digits, and roll it back?"
            sentence = sentence[clause.end() :]
        if ASKED.match(sentence) or _QUESTION.match(sentence):
            return "asks about a change"
        reported = _REPORTED.search(_OWN_WORDS.sub(" ", sentence))
        if reported is not None:
            if not _OWN_ASK.match(sentence[reported.end() :]) and not (
                _GO_AHEAD.search(rest) and not _ASKED_OR_HELD_AFTER.search(rest)
            ):
                return "reports someone else's words"
            if _ASKED_OR_HELD_AFTER.search(rest):
                return "asks about a change"  # "the ticket says v3 is bad, so roll back x?"
    return None


def _only_quoted(text: str) -> bool:
    """Whether every change verb of ``text`` is inside a quotation ("...", \u201c...\u201d,
    \u00ab...\u00bb) of three words or more that the rest of the message says is someone
    else's ('Pasting from the ticket: "roll back x if ..."', 'forwarding from #support: "..."');
    a quote of the user's own command ('run this: "roll back x"') or of a word for emphasis
    ('a \u201cquick rollback\u201d') is the user's request."""
    spans = [(a, b) for a, b in _quoted_spans(text) if len(text[a:b].split()) >= 3]
    if not spans:
        return False
    outside = "".join(ch for i, ch in enumerate(text) if not any(a <= i < b for a, b in spans))
    if not _CITED.search(outside):
        return False
    verbs = [m.start() for verb in _VERBS for m in verb.finditer(text)]
    return bool(verbs) and all(any(a < at < b for a, b in spans) for at in verbs)


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Each quotation's span: straight quotes paired in order, curly and French ones by
    their own opening and closing marks."""
    spans = [m.span() for m in _PAIRED.finditer(text)]
    spans += [m.span() for m in _SINGLE.finditer(text)]
    straight = [i for i, ch in enumerate(text) if ch == '"']
    spans += [(straight[i], straight[i + 1] + 1) for i in range(0, len(straight) - 1, 2)]
    return spans


def _only_reported(text: str) -> bool:
    """Whether ``text`` only tells of a change already made: a past-tense change ("we
    promoted x v3 yesterday", "this got reverted") with no change verb before it or after the
    clause that tells it ("roll back x, we promoted v3 by mistake" asks)."""
    done = _DONE.search(text)
    if done is None or _WANTED_DONE.search(text):
        return False  # "v3 should be promoted to production"
    ends = _CLAUSE_END.search(text, done.end())
    # "..., no rollback needed": a change refused after the report asks nothing.
    rest = _REFUSED_CHANGE.sub(" ", text[ends.end() :]) if ends is not None else ""
    before = text[: done.start()]
    if any(verb.search(before) or verb.search(rest) for verb in (*_VERBS, P.RESHARE)):
        return False
    # "we promoted v3 by mistake roll back x": a rollback after a promotion told, in the same
    # clause, is asked for (a promotion's own words, "v3 to staging", are part of the report).
    told = done.group(0).lower()
    after = _REFUSED_CHANGE.sub(" ", text[done.end() :])
    return bool(re.search(r"rolled|reverted", told)) or not P.ROLLBACK.search(after)


def _only_planned_or_standing(text: str) -> bool:
    """Whether every change ``text`` names is planned for later ("we'll release v3 next week")
    or a state ("the rollback plan is ready", "rollback is on standby")."""
    unplanned = _PLANNED.sub(" ", text)
    left = _STANDING.sub(" ", unplanned)
    if left == text or (left != unplanned and _GO.search(left)):
        return False  # "the rollback plan is ready, execute it"
    if unplanned != text and _DO_IT_NOW.search(left):
        return False  # "plan for tonight: roll back x; do it now actually"
    return not any(verb.search(left) for verb in (*_VERBS, P.RESHARE))


#: A change the user will ask for after something else: "Before I ask for v4 to go to prod:
#: is its card complete?", "before we promote it, ...".
ASK_LATER = re.compile(
    r"^\W*before\s+(?:i|we)\s+(?:(?:ask|request|propose)\b(?=[^.?!:;,]*\b(?:v\d+|promot\w*|prod\w*|"
    r"staging|roll\w*|canary|revert\w*)\b)|(?:move|promote|push|ship|roll|release|deploy|put|send)\b)"
    r"[^.?!:;,]*[:,;.]\s*",
    re.I,
)
#: The change itself said as what comes after something else, anywhere: "quick question -
#: before we promote x v3 to prod, is its card complete?".
_CHANGE_LATER = re.compile(
    r"\bbefore\s+(?:i|we)\s+(?:ask\s+for|request|promote|roll\s*back|move|push|ship|deploy|put|send|"
    r"canary|release)\b[^.?!,;:]*\b(?:v\d+|prod\w*|staging)\b",
    re.I,
)
#: What makes a change described without a verb of its own ("take it to prod", "copy the
#: requests over to v4", "send a small slice, maybe 5 percent, of ... to v2", "go back to the
#: one we had before") anything but a plain request now: a refusal, a condition or a time, a
#: report, a past or a supposition, a question answered no, a correction.
_NOT_PLAIN = re.compile(
    r"\b(?:not|no|never|don'?t|dont|do\s+not|can'?t|cant|cannot|won'?t|wont|wouldn'?t|"
    r"shouldn'?t|isn'?t|aren'?t|rather|nah|nope|instead|unless|until|till|"
    r"if(?!\s+(?:possible|you\s+can|you\s+could)\b)|when|once|after|later|tomorrow|tonight|"
    r"eventually|someday|used\s+to|was|were|did|had|ago|yesterday|last\s+(?:week|night|month|time)|"
    r"asked|said|says|told|tells|thinks?|wants?|suggest(?:s|ed)|mentioned|according|might|"
    r"probably|plan(?:s|ned|ning)?|thinking|going\s+to|gonna|will|"
    r"(?:we|i|you|they|he|she|it|ci|pipeline)\s+(?:could|would|should|can|will|might|may)|"
    r"we'?d|i'?d(?!\s+(?:like|love))|(?:is|are|was|were|been)\s+(?:\w+\s+)?(?:copying|sending|taking|"
    r"going|rolling|moving|promoting|routing|duplicating|cloning|switching|returning|making)|"
    r"actually|wait|make\s+(?:that|it)\s+\d|soon|remind|maybe|perhaps|time\s+to|"
    r"next\s+(?:week|month|time|sprint|release|\w+day)|on\s+(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
    r"this\s+(?:weekend|evening|afternoon|week)|first\s+thing|in\s+(?:\d+|a|an|two|few)\s+(?:hours?|"
    r"minutes?|days?)|at\s+\d{1,2}(?::\d\d\s*(?:am|pm)?|\s*(?:am|pm))|in\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|"
    r"oct|nov|dec)\w*|or\s+(?:keep|is\s+that|should|would|not|leave))\b"
    r"|\?\s*(?:no|nope|nah)\b"
    # "Dana: take it to prod", "Ops-Team: ...", "the ticket: ...": someone's words pasted
    r"|^\W*(?-i:[A-Z][\w.\-]*)\s*:|^\W*(?:the\s+)?(?:ticket|runbook|plan|jira|issue|doc|note|todo|to-do)\s*:"
    # "take it to prod, is that safe?": asked about
    r"|\bis\s+(?:that|it|this)\s+(?:safe|ok|okay|wise|fine|a\s+good\s+idea|risky)\b",
    re.I,
)
#: What is not a supposition in a described change: "so we can see how it does" (a purpose),
#: "without it actually answering" (what a shadow is), "before it goes live" (the test stage).
_PLAIN_ASIDE = re.compile(
    r"\b(?:so|to)\s+(?:that\s+)?(?:we|i|you|they)\s+(?:can|could)\b[^.?!,;]*"
    r"|\bwithout\s+(?:it|v\d+)\s+(?:actually\s+|really\s+)?(?:answering|responding)\b[^.?!,;]*"
    r"|\bno\s+(?:customers?|users?|one)\s+(?:ever\s+)?(?:sees?|gets?)\b[^.?!,;]*"
    r"|\bbefore\s+it\s+goes\s+(?:live|to\s+prod\w*)\b",
    re.I,
)


def plainly_said(text: str) -> bool:
    """No refusal, condition, time, report, past or supposition in ``text``."""
    return _NOT_PLAIN.search(_PLAIN_ASIDE.sub(" ", text)) is None


def described_not_plain(text: str) -> str | None:
    """The words that keep a change described without a change verb ("take it to prod",
    "copy the requests over to v4") from being asked for now; None when the message says
    such a change plainly, names its change with a verb of its own, or describes none."""
    if not P.DESCRIBED_CHANGE.search(text):
        return None
    if condition_span(text) is not None:
        return "sets a condition"  # "copy the requests over to v4 if the canary is fine"
    rest = P.DESCRIBED_CHANGE.sub(" ", text)
    if any(has_verb.search(rest) for has_verb in (P.PROMOTE, P.ROLLBACK, P.CANARY, P.STOP)):
        return None  # the change has a verb of its own; the other checks read it
    versions = {v.lower() for v in re.findall(r"\bv\d+\b", text, re.I)}
    if len(versions) > 1:
        return "names more than one version"
    if P.PERCENT.search(rest) and not re.search(P.SLICE_TO, text, re.I):
        return "gives a share of traffic"  # "take v3 to prod at 10%": a canary, not a move
    found = _NOT_PLAIN.search(_PLAIN_ASIDE.sub(" ", rest))
    return found.group(0) if found is not None else None


def held_words(kind: str, text: str) -> str | None:
    """The words that refuse, hold or question a change of ``kind`` ("never promote", "not
    yet", "should I roll back"); None when the change is asked for."""
    for held_kind, pattern in P.HELD_VERB:
        if held_kind == kind and (found := pattern.search(text)) is not None:
            return found.group(0).strip()
    if kind == "stop_canary" and not _STOP_SAID.search(text):
        # "don't roll back yet. first tell me ... whether a canary is on": the only words a
        # stop could be read from are a refused rollback
        refused = dict(P.HELD_VERB)["rollback"].search(text)
        if refused is not None:
            return refused.group(0).strip()
    found = P.HELD_ALL.search(text)
    return found.group(0) if found is not None else None


#: A canary's stop said in words of its own, not only as a rollback ("end the canary, do NOT
#: roll back prod" asks for the stop).
_STOP_SAID = re.compile(
    r"\b(?:(?:drop|remove)\s+(?:the\s+)?(?:canary|shadow|split|experiment)|"
    r"stop|end|kill|cancel|halt|abort|terminate|disable|pull|scrap|finish|"
    r"(?:turn|switch|shut)\s+(?:\S+\s+){0,3}?(?:off|down))\b",
    re.I,
)


#: Going back said as a state ("go back to the previous ...", "back on v1"), which a question
#: only asks about.
ASKED_BACK = re.compile(r"\bgo(?:ne|es)?\s+back\b|\bback\s+(?:on|to)\b", re.I)
#: A question that asks how things stand (a polite "can we ...?" still asks for the change).
ASKED = re.compile(
    r"^\W*(?:(?:and|so|ok|okay|hmm+)\W+)*(?:did|do|does|when|why|what|how|has|have|was|were|"
    r"is(?!\s+(?:(?:it|there)\s+)?(?:possible|a\s+way))|are)\b",
    re.I,
)
#: Two changes offered as alternatives: "canary or rollback, whichever is safer".
_CHANGE_WORD = (
    r"(?:canary|roll\s*back|rollback|revert|promot\w*|stop\s+(?:it|the\s+canary)|"
    r"(?:switch|flip|put|pin)\s+(?:\S+\s+)?back)"
)
EITHER_CHANGE = re.compile(
    rf"\b{_CHANGE_WORD}\s*(?:,\s*)?or\s+(?:a\s+|an\s+|the\s+|to\s+)?{_CHANGE_WORD}\b", re.I
)
#: The change verbs, to find the sentence that says the change.
#: ("stop the canary": the verb before the noun)
_VERBS = (P.PROMOTE, P.ROLLBACK, P.STOP, P.CANARY)
#: A clause that starts the change right after the question: ", and roll ...", ", then ...".
_THEN_CHANGE = re.compile(
    r",\s*(?:and|then|also)\s+(?:(?:then|please|pls|also|just|now)\s+)*$", re.I
)
#: A question that asks what is, not what would be ("what serves ...", not "what if ...").
_WH_QUESTION = re.compile(
    r"^\W*(?:what|which|who|where)\b(?!\s+(?:if|would|happens|about)\b)(?![^,]*\bif\b)", re.I
)
#: A question about a change ("shall we promote ...", "how do I roll back ...", "what if we
#: roll back ..."); a polite request ("can you", "could we", "is it possible") still asks.
_QUESTION = re.compile(
    r"^\W*(?:(?:hey|hi|ok|okay|so|and|but|hmm+)\W+)*(?:how|who|where|which|shall|should|ought|"
    r"would\s+it(?!\s+be\s+possible)|is\s+it\s+(?:wise|safe|time|a\s+good\s+idea)|any\s+reason|"
    # German: "soll ich den Canary beenden?", "wie kann ich ... stoppen?"
    r"soll(?:en|te)?\s+(?:ich|wir)|wie\s+kann|kann\s+(?:ich|man)|"
    r"explain|tell\s+me\s+how|to\s+\w+)\b",
    re.I,
)
#: Someone else's words: "someone said to roll back x", "the runbook says roll back x".
_REPORTED = re.compile(
    r"\b(?:said|says|suggested|suggests|wants|wanted|wrote|recommends|recommended|reads|"
    # a learner's "Giulia say we must roll back x", "my boss say ..."
    r"(?-i:\b(?!(?:We|I|They|You|People|Metrics|Numbers|Logs|Dashboards)\b)[A-Z][a-z]+)\s+say(?=\s*[:,]|\s+\w)|"
    r"\b(?:boss|lead|manager|colleague)\s+say(?=\s*[:,]|\s+\w)|"
    r"mentioned|told\s+(?:me|us|him|her|them)\s+to)\b",
    re.I,
)
#: The speaker takes up the change reported: "Ines told me to roll back x, please do it".
_GO_AHEAD = re.compile(
    r"[,;.!]\s*(?:so\s+)?(?:(?:please|pls|plz|kindly|just)\s+)*(?:do\s+(?:it|that|this|so)|"
    r"go\s+ahead|proceed)(?:\s+(?:now|please|pls|asap|then))?\W*$",
    re.I,
)
#: The speaker's own words said before: "as I mentioned", "like I said".
_OWN_WORDS = re.compile(
    r"\b(?:as|like)\s+(?:i|we)(?:'ve|\s+have)?\s+(?:said|mentioned|wrote|told\s+you)\b", re.I
)
#: Someone else's words, attributed at the end: "switch x back, Bob said.", "..., says Bob".
_SAID_BY = re.compile(
    r"[,;\-]\s*(?:(?:says|said|wrote|writes)\s+[A-Za-z]+|[A-Za-z]+\s+(?:says|said|wrote|writes))"
    r"\W*$",
    re.I,
)
#: A change already made, told in the past tense: "we promoted x v3 yesterday", "Bob rolled
#: it back", "we put mnist-cnn back to v1 last week" ("put" only with a time in the past).
_DONE = re.compile(
    r"(?:\b(?:we|i|they|someone|somebody|he|she|ops|on-?call|"
    r"(?-i:(?!(?:Then|Please|Also|Just|And|So|Now|First|Next|Started|Promoted|Yes|Ok|Okay)\b)"
    r"[A-Z][a-z]+))\s+"
    r"|\b(?:got|was|were|been)\s+)"
    r"(?:(?:already|just|had|have|has|then|also)\s+)*"
    r"(?:promoted|rolled\s+(?:[\w.\-]+\s+){0,3}?back|reverted|switched|stopped|started|shipped|"
    r"deployed|released|canaried|killed|ended|pinned|flipped|"
    r"put\b(?=.{0,80}\b(?:yesterday|last\s+(?:week|night|time|friday|monday)|ago|earlier|"
    r"already|this\s+morning)\b))",
    re.I,
)
#: Where the clause of a report ends: what follows may ask for a change of its own.
_CLAUSE_END = re.compile(
    r"[,;.!?:()]|\s[-\u2013\u2014]\s|\b(?:and|so|but|then|now|please|pls)\b", re.I
)
#: A change refused by name: "no rollback needed", "without a promotion", "not canary it".
_REFUSED_CHANGE = re.compile(
    r"\b(?:no|not|without|never|don'?t|do\s+not|nothing\s+to)\s+(?:\w+\s+)?"
    r"(?:roll\s*back|revert|promot|canar|stop|ship|releas)\w*",
    re.I,
)
#: A change planned for a later time: "we'll release v3 next week", "I will promote mnist-cnn
#: v2 tomorrow", "we're going to roll back on Monday" (never "roll back now, we'll see").
_PLANNED = re.compile(
    r"\b(?:we|i|they|he|she|ops|the\s+team|(?:the|my|our)\s+plan)(?:'ll|\s+will|\s+shall|'re\s+going\s+to|"
    r"'m\s+going\s+to|\s+(?:are|am|is)\s+going\s+to|\s+plans?\s+to|\s+intends?\s+to|\s+is\s+to|"
    r"\s+wants?\s+to|'d\s+like\s+to|\s+would\s+like\s+to)\s+"
    r"(?:\w+\s+){0,2}?"
    r"(?:promot|releas|ship|roll|revert|canar|deploy|stop|switch|move|push|demot|unpromot|"
    r"back\s+out|send|take)\w*\b"
    r"(?:(?!\b(?:now|asap|immediately|so|but|and|then|for)\b)[^,;.!?])*?"
    r"\b(?:tomorrow|tonight|next\s+(?:week|month|sprint|release|quarter|(?:mon|tues|wednes|thurs|"
    r"fri|satur|sun)day)|on\s+(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
    r"this\s+(?:afternoon|evening|weekend))\b"
    # a plan's heading: "Plan for tomorrow: canary x v2 at 10% in the morning"
    r"|\b(?:(?:my|our|the)\s+plan|todo|to-do)\s*:[^.!?;\n]*\b(?:tomorrow|tonight|later|next\s+\w+|"
    r"on\s+(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b[^.!?;\n]*"
    # a command for a later time: "send it to prod tomorrow", "promote x v2 on Monday"
    r"|^\W*(?:please\s+|pls\s+)?(?:promot|send|ship|roll|revert|canar|stop|deploy|releas|push|move|"
    r"take|demot|unpromot|back\s+out)\w*"
    r"\b(?![^.!?;,\n]*\b(?:now|asap|immediately|right\s+away)\b)"
    r"(?:(?!\b(?:for|by|before|so|until|and|we|we'll|check|then|after|till)\b|\s[-\u2013\u2014]\s)[^.!?;,\n])*"
    r"\b(?:tomorrow|tonight|later(?:\s+today)?|next\s+(?:week|month|sprint|release|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)|on\s+(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
    r"this\s+(?:afternoon|evening|weekend))\W*$"
    # a plan's heading over a list: "Plan for tomorrow:\n- promote ...\n- stop ..."
    r"|\b(?:plan|todo|to-do|next\s+steps?)\s+for\s+(?:tomorrow|tonight|later|next\s+\w+|the\s+weekend|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)\s*:\s*\n[\s\S]*"
    r"|\b(?:plan|todo|to-do|next\s+steps?)\s+for\s+(?:tomorrow|tonight|later|next\s+\w+|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)\s*:[^.!?;\n]*",
    re.I,
)
#: A change said as a state, not asked: "the rollback plan is ready", "rollback is on standby".
_STANDING = re.compile(
    r"\b(?:roll\s*back|revert|promotion)(?:\s+(?:plan|path|option|script|procedure|runbook))?"
    r"(?:\s+(?:of|for|on)\s+[\w.\-]+)?\s+(?:is|are|was|stays|remains|'s)\s+(?:\w+\s+)?"
    r"(?:ready|prepared|available|on\s+standby|standing\s+by|in\s+place|possible|planned|"
    r"scheduled|an\s+option|documented)\b",
    re.I,
)
#: How a running canary stands: "the x v3 canary is at 10%", "canary on x is still running".
CANARY_STATE = re.compile(
    r"\b(canar(?:y|ies))(\s*(?:(?:of|on|for)\s+[\w.\-]+(?:\s+v\d+)?\s+)?)((?:'s\s+|\u2019s\s+|"
    r"(?:is|was|stays|remains|sits|has\s+been|are)\s+)(?:still\s+|now\s+|currently\s+|already\s+)?(?:at|on|running|live|"
    r"up|in\s+(?:shadow|split))\b(?:(?!\s[-\u2013\u2014]\s|\s+(?:and|but|so)\s)[^,;.!?])*)",
    re.I,
)
#: The canary kept, and a change named only as what keeping it allows: "keep the canary so we
#: can roll back later", "leave the canary on x running in case we need to revert".
_CANARY_KEPT_FOR = re.compile(
    r"^(?:[^\n]*\b(?:FIRING|RESOLVED|ALERT)\b[^\n]*\n)*"
    r"\W*(?:[\w.\-]+\s*:\s*)?(?:(?:as|like)\s+(?:i|we)\s+(?:said|mentioned)\W+)?"
    r"(?:(?:we|i'?d|i\s+would|let'?s)\s+)?"
    r"(?:(?:please|pls|just)\s+)?(?:keep|leave|hold|let)\s+(?:the\s+|that\s+|this\s+|its\s+|our\s+)?"
    r"(?:[\w.]+-[\w.\-]+\s+)?canary\b[^;.!?]*?(?:\bso\s+(?:that\s+)?(?:we|i|you|they)\s+(?:can|could)|"
    r"\bin\s+case|,\s*(?:we|i)\s+(?:might|may)|\b(?:until|while)\s+we\s+decide)\b"
    r"(?:(?!\b(?:but|now|and\s+(?:bump|raise|set|make))\b)[^;.!?])*[.!]*\s*"
    r"(?:(?:thanks?|thank\s+you|ty|cheers)\W*)?$",
    re.I,
)
#: How a change stands: "mnist-cnn rollback status", "status of the x rollback".
_STATUS_OF = re.compile(
    r"\b(?:roll\s*back|rollback|promotion|revert)\s+status\b"
    r"|\bstatus\s+(?:of|on|for)\s+(?:the\s+|that\s+|my\s+)?(?:[\w.\-]+\s+)?(?:roll\s*back|rollback|promotion)\b",
    re.I,
)
#: Words that bring a planned change to now: "do it now", "right now", "go ahead".
_DO_IT_NOW = re.compile(
    r"\bdo\s+it\s+(?:now|today|asap)\b|\bright\s+now\b|\bimmediately\b|\basap\b|\bgo\s+ahead\b",
    re.I,
)
#: Words that ask to go ahead with what is ready: "the rollback plan is ready, execute it".
_GO = re.compile(
    r"\b(?:execute|do\s+it|go|go\s+ahead|run\s+it|proceed|now|asap|immediately|please)\b", re.I
)
#: A change to cancel, or a rollback to undo: "cancel the rollback of x", "abort that
#: promotion", "undo the rollback" (French "annule le rollback" reads as its English words);
#: never "undo the last promotion", which asks for a rollback.
CANCELLED = re.compile(
    r"\b(?:(?:cancel|abort|call\s+off|annule[rz]?)\s+(?:the\s+|that\s+|this\s+|my\s+|our\s+|"
    r"his\s+|her\s+|their\s+|le\s+|la\s+|l')?(?:last\s+|pending\s+|latest\s+)?"
    r"(?:roll\s*back|promotion|revert)"
    r"|(?:undo|reverse)\s+(?:the\s+|that\s+|this\s+|my\s+|our\s+)?(?:last\s+|latest\s+)?"
    r"(?:roll\s*back|revert))\w*(?:\s+(?:of|on|for|de|du|sur)\s+[\w.\-]+)?",
    re.I,
)
#: The speaker says the message asks nothing to be done: "... Just asking." at its end, "I am
#: not asking you to do it", "for the record, I am not requesting that" (never "I am not
#: asking for permission, roll back x").
_ONLY_ASKING = re.compile(
    r"\b(?:just|only)\s+(?:asking|curious|wondering)\W*$"
    r"|\b(?:i\s*(?:'?m|\s+am)|we\s*(?:'?re|\s+are))\s+not\s+(?:asking|requesting)\s+"
    r"(?:(?:you\s+)?to\s+do\s+(?:it|that|this)|for\s+(?:it|that|this|a\s+change)|that|it|this)\b"
    r"|\bnot\s+asking\s+(?:you\s+)?to\s+do\s+(?:it|that|this)\b"
    r"|\bnot\s+a\s+request\b",
    re.I,
)


#: "hypothetically, roll back x", "in theory we could promote v4": a change supposed.
_HYPOTHETICAL = re.compile(r"\b(?:hypothetical(?:ly)?|in\s+theory|theoretically)\b", re.I)
#: A change asked about: "whether we should roll back x", "I want to see if we should canary".
_WHETHER_TO = re.compile(
    r"\b(?:whether|if)\s+(?:or\s+not\s+)?(?:(?:we|i)\s+(?:should|could|can|need\s+to|ought\s+to)\s+|"
    r"you\s+(?:should|need\s+to|ought\s+to)\s+|"
    r"to\s+)(?:\w+\s+){0,2}?(?:roll|promot|revert|canar|stop|move|push|put|ship|deploy|send|take|"
    r"go\s+back|switch)\w*",
    re.I,
)
#: A change asked for in a clause after the question: "let me know if I should also stop the
#: canary; roll back x to v1 now".
_ASKED_AFTER = re.compile(
    r"[;.!?]\s*(?:(?:and|then|but|now|so|just|please|pls)\W+)*(?:roll|promote|revert|canary|stop|"
    r"kill|move|push|ship|deploy|put|send|switch)\b",
    re.I,
)
#: Asked whether a change is safe: "promote x v4 to prod, is that safe?".
_IS_IT_SAFE = re.compile(
    r"\b(?:is|would)\s+(?:that|it|this)\s+(?:be\s+)?(?:safe|ok|okay|wise|fine|a\s+good\s+idea|risky)\W*\?",
    re.I,
)
#: A question about the rules a change follows: "... or does it have to go through staging
#: first?", "or do we need an approval?".
_PROCESS_QUESTION = re.compile(
    r"\bor\s+(?:does|do|is|must|should|has|have|would)\s+(?:it|we|i|that|this|one)\s+"
    r"(?:have\s+to|has\s+to|need|needs|go|goes|require|got\s+to)\b[^?]*\?",
    re.I,
)
#: A change someone else is to make: "ask Dana to promote x v4", "tell bob to roll back x".
_DELEGATED = re.compile(
    r"\b(?:ask|tell|get|have|remind)\s+(?!(?:me|us|you|it|them|him|her)\b)[A-Za-z]+\s+to\s+(?:\w+\s+){0,2}?"
    r"(?:promot|roll|revert|canar|stop|move|push|ship|deploy|put|send|switch|take|go\s+back|copy)\w*",
    re.I,
)


def _supposed(text: str) -> bool:
    """Whether ``text`` opens by supposing the change it names: "suppose v3 were in shadow at
    20% - would users see it?" (never "imagine my surprise: v3 is broken. roll back x")."""
    if not _SUPPOSED.match(text):
        return False
    first = re.split(r"[.!;:\u2013\u2014]|\s-\s", text, maxsplit=1)[0]
    named = any(verb.search(first) for verb in _VERBS)
    return named and bool(re.search(r"\?|\b(?:were|would|could|might)\b", text))


#: The change said, and put off: "After Friday, not now.", "Nothing to do now, just writing
#: the plan down", "just flagging".
_NOT_NOW = re.compile(
    r"\bnot\s+now\b|(?<!why\s)(?<!if\s)\bnot\s+(?:today|tonight|this\s+week)\b(?!'s|\u2019s)"
    r"|\bnothing\s+to\s+do\s+(?:now|yet|today)\b"
    r"|\bjust\s+(?:writing|noting)\s+(?:it|this|that|the\s+plan)\s+down\b"
    # "just flagging", unless a request follows ("just flagging: x is broken, please roll it back")
    r"|\bjust\s+flagging\b(?![^?]*\b(?:please|pls|plz|kindly)\s+(?:roll|revert|promote|stop|kill|"
    r"end)\w*\b[^?]*$)",
    re.I,
)
#: A change nobody should make: "so nobody can promote anything", "no one may roll back".
_NOBODY = re.compile(
    r"\b(?:nobody|no\s*one|noone)\s+(?:\w+\s+)?(?:can|could|should|may|will|must)\s+"
    r"(?:\w+\s+)?(?:promot|roll|revert|canar|stop|change|touch|deploy|ship)\w*",
    re.I,
)
#: A clause of its own that asks for a change: "..., roll it back", "...; so please revert x".
_THEN_ASKED = re.compile(
    r"[,;.!:]\s*(?:(?:so|then|and|now|please|pls|just)\s+)*"
    r"(?:roll\s+(?:it|that|this|[\w.]+-[\w.\-]+)\s+back|(?:roll\s*back|revert|promote)\s+"
    r"(?:it|that|this|v\d+|[\w.]+-[\w.\-]+)|(?:stop|kill|end)\s+(?:it|that|the\s+canary))\b"
    r"(?![^?]*\?)",
    re.I,
)
#: A command shown, not asked: "# just testing the CLI, don't run", "example only", "dry run".
_NOT_TO_RUN = re.compile(
    r"\b(?:don'?t|do\s+not|never)\s+(?:run|apply|execute)\b|\bdry[\s-]?run\b|"
    r"\bexample\s+only\b|\bjust\s+testing\s+the\s+(?:cli|command|syntax|parser)\b",
    re.I,
)
#: A pasted record: a timestamp and who did it ("2026-12-05T10:00:00Z ... user=bob").
_RECORD_LINE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T\s]\d{1,2}:\d{2}\S*.*\b(?:user|by|actor|approver|approved_by)[=:]\s*\S+",
    re.I,
)
#: Doubt about the change said: "Ines told me to roll back x, but I'm not sure I should".
_UNSURE = re.compile(
    r"\b(?:not\s+(?:sure|convinced)|unconvinced|unsure|doubt)\s+(?:if\s+|whether\s+|that\s+)?"
    r"(?![^.!?]*\bbut\b[^.!?]*\b(?:anyway|go\s+ahead|do\s+it)\b)(?:i|we|you)\s+"
    r"(?:should|ought|need)\b",
    re.I,
)
#: A message that opens by supposing: "suppose ...", "imagine ...", "hypothetically ...".
_SUPPOSED = re.compile(r"^\W*(?:suppose|supposing|imagine|hypothetically|in\s+theory)\b", re.I)
#: A change wished for in the passive: "v3 should be promoted", "it needs to be rolled back".
_WANTED_DONE = re.compile(
    r"\b(?:should|must|needs?\s+to|has\s+to|have\s+to|want\s+(?:it|them|\w+)|get\s+\S+|to)\s+"
    r"(?:be\s+|get\s+)?(?:promoted|rolled\s+back|reverted|stopped|canaried|released|shipped)\b",
    re.I,
)
#: A quotation in curly or French marks (straight quotes are paired in ``_quoted_spans``).
_PAIRED = re.compile(r"\u201c[^\u201d\n]*\u201d|\u00ab[^\u00bb\n]*\u00bb")
#: A quotation in single quotes: "fwd from #ml: '@sam can u rollback x' thoughts?" (an
#: apostrophe inside a word, "can't", neither opens nor closes one).
_SINGLE = re.compile(r"(?<!\w)'(?=\S)[^'\n]*?(?<=\S)'(?!\w)")
#: Words outside a quotation that say whose it is: a ticket, a channel, someone who said it.
_CITED = re.compile(
    r"\b(?:says?|said|wrote|writes|ticket|runbook|pasting|pasted|forward(?:ing|ed)?|fwd|"
    r"from|according|quote|quoting|message\s+from|alert|channel|asked|asks|dit|a\s+dit)\b"
    r"|#[\w\-]+",
    re.I,
)
#: A change asked back for confirmation: "canary x v3 off, right?", "... I'm just asking".
_CONFIRMING = re.compile(
    r"[,;]\s*(?:right|correct|isn'?t\s+it|no|yes|ok|okay)\s*\?\s*$"
    r"|\b(?:i'?m|i\s+am)\s+(?:just|only)\s+asking\b",
    re.I,
)
#: After a change read in a clause of its own, or after reported words: a question, a
#: condition or an exception keeps it from being asked for ("..., and roll it back unless
#: it's mnist-cnn", "..., so kindly roll back x if she is right").
_ASKED_OR_HELD_AFTER = re.compile(
    r"\?|\b(?:if|unless|in\s+case|once|as\s+soon\s+as|provided|when)\b", re.I
)
#: The speaker's own request after what was reported: "Log says 503s, kindly stop the canary",
#: "Alice says it's broken, so roll back x" (never a quote: "Bob says: please roll back x",
#: "the alert says, please stop ...", nor a rule: "the runbook says if ..., please ...").
_OWN_ASK = re.compile(
    r"\s+(?!(?:if|when|whenever|to|that\s+you)\b)[^,:;\-]*\S[^,:;\-]*,\s*(?:(?:and|then|now)\s+)?"
    r"(?:kindly|please|pls|plz|so|hence|therefore|thus)"
    r"(?:\s+(?:just|now|immediately|asap|go\s+ahead\s+and|please|kindly))*\s*$",
    re.I,
)
#: The choice left to the chat: "whichever is safer", "you decide", "v1 or v2", "10% or 20%".
_CHOICE = re.compile(
    r"\b(?:whichever|you\s+decide|up\s+to\s+you|your\s+call|you\s+choose|you\s+pick)\b"
    r"|\b(?:v|version\s*)\d+\s+or\s+(?:v|version\s*)?\d+\b|\d+\s*%\s*or\s*\d+\s*%"
    rf"|{_CHANGE_WORD}\b.{{0,60}}?\bor\s+(?:\w+\s+){{0,3}}?{_CHANGE_WORD}\b",
    re.I,
)
