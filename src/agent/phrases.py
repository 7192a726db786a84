"""The words and patterns the offline parser keys on (its vocabulary, in one place; the words
of messages that ask nothing it does are in ``scope_phrases``)."""

from __future__ import annotations

import re

from agent.intents import Goal
from agent.wording import VOCABULARY

TOKEN = re.compile(r"[A-Za-z0-9][\w.\-]*")
VERSION_WORD = re.compile(r"^(?:v|version|ver)?(\d+)$", re.I)
#: ("#2" is an item's, a ticket's or an incident's number, never a version.)
VERSION = re.compile(
    r"(?:\bv|\bversion\s*|\bver\.?\s*|:v?|(?<=[\w\-])@v?)(\d+)\b",
    re.I,
)
#: Two versions after one plural "versions" ("compare versions 4 and 2").
VERSION_PAIR = re.compile(
    r"\bversions\s+(\d+)\s*(?:,|and|&|vs\.?|versus|with|to|against)\s*v?(\d+)\b", re.I
)
NAME_THEN_VERSION = re.compile(
    r"\b([A-Za-z0-9][\w.\-]*?)(?:\s+|:)(?:v|version\s*|ver\.?\s*)(\d+)\b", re.I
)
TO_STAGE = re.compile(
    r"\b(?:to|into|in|on|onto|as|for|nach|auf)\s+(?:the\s+)?"
    r"(prod(?:uction)?|staging|stage|archived?|none)\b",
    re.I,
)
#: "promote mnist-classifier v3 staging", "x@4 -> prod": a stage right after the version is
#: where it goes (terse, command-like wording; "to staging" is read first).
VERSION_THEN_STAGE = re.compile(
    r"(?:\bv|(?<=[\w\-])@v?|:v?|#)(\d+)\s*(?:->|=>|\u2192)?\s*(prod(?:uction)?|staging|archived?)\b"
    # ... or where a condition or a reason follows it ("... staging if tests pass")
    r"(?=\s*(?:(?:now|please|pls|asap)\b\W*)*(?:[#.!,;?]|$|(?:if|once|when|unless|because|since)\b)"
    # "promo v4 stg mnist-classifier pls": then only the model's name
    r"|\s+(?:(?:for|of|on)\s+)?[A-Za-z][\w.]*-[\w.\-]+\W*(?:(?:now|please|pls|asap)\b\W*)*$)",
    re.I,
)
STAGE_WORD = re.compile(r"\b(prod(?:uction)?|staging|archived?)\b", re.I)
WHY = re.compile(r"\b(?:because|since|reason:|rationale:|why:)\s*(.+)$", re.I | re.S)
LATENCY = re.compile(
    r"(?:\b(?:under|within|below|less than|at most|faster than|max(?:imum)?|sla(?: of)?|"
    # "budget 20 ms", "a latency budget of 15ms", "p99 of 8 ms": a bound on how long it takes.
    r"(?:latency\s+)?budget(?:\s+(?:of|is|were|was|at))?|p\d{2,3}\s+(?:of|at)|"
    r"no (?:more|slower) than|"
    # "the whole request has to come back in about 20 ms"
    r"(?:answer|respond|reply|come\s+back|return|finish|complete)\w*\s+in\s+(?:about|around|roughly|~)|"
    r"(?:hard\s+)?(?:cap|limit|deadline)(?:\s+(?:of|at|is))?)|<=?)"
    r"\s*(\d+(?:\.\d+)?)\s*(?:ms|milliseconds?)\b"
    # "20 ms max", "5ms or less", "10 ms tops", "a 20 ms budget", "a 10 ms latency budget"
    r"|\b(\d+(?:\.\d+)?)\s*(?:ms|milliseconds?)\s+(?:max(?:imum)?|or (?:less|under|below|faster)"
    r"|tops|at most|(?:(?:latency|response[- ]time)\s+)?(?:budget|sla|limit|ceiling))\b",
    re.I,
)
THIS = re.compile(
    r"\b(?:it|its|that one|this one|that ones|this ones|that version|this version|that model|"
    r"this model|"
    r"the same(?: one| version| model)?|same version|same model|the recommended one|"
    r"the one you (?:recommended|suggested|picked)|your (?:pick|recommendation|suggestion)|"
    r"(?:promote|ship|deploy|release|compare|show|describe|move|put)\s+(?:that|this)|"
    # "how does that compare to v3": the version just discussed, measured against another.
    r"(?:that|this)\s+(?:compares?|stacks?\s+up|fares?)|"
    # "promote the canary": the version just put on a canary.
    r"(?:promote|ship|release|graduate)\s+the\s+canary(?:\s+(?:version|build|one))?)\b",
    re.I,
)
PREVIOUS = re.compile(
    r"\b(?:the\s+)?(?:previous|prior|earlier|older|old|last)\s+(?:one|version|release)\b"
    r"|\bthe one before\b",
    re.I,
)
#: The newer of the versions just discussed ("the newer one", "the more recent version").
NEWER = re.compile(
    r"\bthe\s+(?:newer|more\s+recent|later|higher|younger)\s+(?:one|version|build|release)\b",
    re.I,
)
FOLLOW_UP = re.compile(
    r"^(?:and|und|also|what about|how about|same (?:for|with|thing for|question)|ditto for|"
    r"same\s+(?:comparison|check|thing|again)\s+(?:for|with|on)|"
    r"likewise for|now (?:for|do)|do the same for)\b",
    re.I,
)
MORE = re.compile(
    r"^(?:show\s+)?(?:more|next(?: page)?|continue|the rest|keep going|go on)\b"
    r"|\b(?:show|give|list) (?:me )?(?:more|the rest|the next (?:page|ones?))\b",
    re.I,
)
PENDING = re.compile(
    r"\bpending\b|\bawaiting\b"
    r"|\bwaiting (?:for|on) (?:a |an )?(?:human|approv\w*|review|sign[- ]?off)"
    r"|\bneeds? (?:my )?approv|\bto approve\b|\bopen proposals?\b|\bapprovals?\b|\bproposals\b"
    r"|\b(?:been|got|get|gotten)\s+approved\b|\bapproved yet\b"
    r"|\bproposals?\b.*\bopen\b|\bsign[- ]?off\b|\bstill waiting\b"
    r"|\bwaiting (?:for|on) (?:someone|anyone|somebody)\b"
    # "what's waiting?", "anything waiting?" (never "waiting on the canary")
    r"|\b(?:what'?s|what\s+is|anything|what)\s+(?:still\s+)?waiting\b(?=\W*$|\s+(?:for|on)\s+me\b)"
    r"|\b(?:requests?|proposals?|promotions?)\s+(?:[\w.\-]+\s+){0,3}?(?:go|gone|went|got)\s+through\b"
    # "what did I leave unapproved?", "any open plans?", "changes nobody signed yet"
    r"|\bunapproved\b|\bnot (?:yet )?approved\b|\bopen (?:plans?|changes|requests)\b"
    r"|\b(?:plans?|changes|requests)\s+(?:still\s+)?(?:open|outstanding|unsigned)\b"
    r"|\boutstanding (?:plans?|changes|requests|proposals?)\b"
    # "I left a proposal hanging", "a change still dangling": one not yet decided.
    r"|\b(?:proposals?|plans?|changes?|requests?)\s+(?:\w+\s+){0,4}?(?:hanging|dangling|unanswered)\b"
    # "change requests in the queue that nobody has signed off on yet"
    r"|\b(?:nobody|no\s+one|not|n't)\s+(?:\w+\s+){0,2}?signed\s+off\b|\bsigned\s+off\s+(?:on\s+)?yet\b",
    re.I,
)
HISTORY_QUESTION = re.compile(
    r"\b(?:why|when|who)\b.*\b(?:rolled\s+back|roll\s*back|rollback|reverted|promoted|changed|"
    r"moved|deployed|released|approved|denied|touched|put|pushed|shipped|started|kicked\s+off|"
    r"launched|"
    # "when did v2 go to staging?"
    r"(?:go|went|get|got|land|landed)\s+(?:to|in|into|on|live)|signed\s+off)\b"
    # "who did the canary", "who ran that rollback"
    r"|\bwho\s+(?:did|ran)\s+(?:the|that|this)\b"
    # "did anyone move a version?", "has somebody promoted something?": who did what.
    r"|\b(?:did|has|have)\s+(?:any|some|no)\s*(?:one|body)\s+(?:\w+\s+)?(?:roll(?:ed)?\s*back|"
    r"revert(?:ed)?|promot(?:e|ed)|chang(?:e|ed)|mov(?:e|ed)|deploy(?:ed)?|releas(?:e|ed)|"
    r"approv(?:e|ed)|touch(?:ed)?|push(?:ed)?|swap(?:ped)?)\b"
    # "who's been changing it", "who keeps promoting x", "who has been touching prod"
    # "who did promote the x?" (a learner's "who promoted")
    r"|\bwho(?:s|\s+is|\s+has|\s+have|\s+was|\s+were|\s+keeps|\s+kept|\s+did|\s+does)?"
    r"(?:\s+been)?\s+"
    r"(?:chang|promot|mov|touch|roll|deploy|releas|approv|push|revert|edit|mess|tinker|fiddl|"
    r"swap|play)\w*"
    r"\b",
    re.I,
)
#: A message that only takes back what was asked ("nvm, false alarm. leave it", "forget it"):
#: nothing to do, said so.
WITHDRAWN = re.compile(
    r"\b(?:nvm|never\s?mind|forget\s+(?:it|that|about\s+it)|false\s+alarm|scratch\s+that|"
    r"cancel\s+that|disregard|ignore\s+(?:that|me|my\s+last(?:\s+message)?)|no\s+need|"
    r"leave\s+it(?:\s+(?:alone|as\s+(?:it\s+)?is|be|there|running|for\s+now))?|let\s+it\s+be|"
    # "don't change anything yet", "do nothing for now"
    r"(?:don'?t|do\s+not)\s+(?:change|touch|do|move)\s+anything|do\s+nothing|hold\s+off|"
    r"(?:don'?t|do\s+not)\s+do\s+(?:that|it|this)(?:\s+yet)?)\b",
    re.I,
)
#: Changes decided, asked for with a window the message gives ("what's been approved in the
#: last 24 hours?", "what got promoted since friday"): the history, never what still waits
#: ("has it been approved yet?").
DECIDED_IN_WINDOW = re.compile(
    r"\b(?:what|which\s+(?:ones?|versions?|models?|changes?|promotions?))"
    r"(?:'s|\s+is|\s+has|\s+have|\s+was|\s+were|\s+got)\s+(?:been\s+|got\s+)?"
    r"(?:approved|denied|rejected|promoted|rolled\s+back|deployed)\b",
    re.I,
)
#: Changes described without a change verb of their own; each is proposed only when asked
#: plainly (``not_asked.described_not_plain``).
#: "could we go back to the one we had before?", asked at a clause's start.
BACK_TO_BEFORE_SAID = (
    r"(?:return|switch\s+back|go\s+back)\s+to\s+(?:the\s+(?:one|version|build|model)|what)\s+"
    r"(?:we\s+had|(?:that\s+)?was\s+(?:live|serving|there|running))\s+(?:before|earlier|previously)\b"
)
BACK_TO_BEFORE = (
    r"(?:^\W*|[.!?;,]\s*|\b(?:please|pls|could\s+we|can\s+we|could\s+you|can\s+you|let'?s|"
    r"we\s+(?:need|want)\s+to|i\s+want\s+to|just)\s+)" + BACK_TO_BEFORE_SAID
)
#: "send a small slice, maybe 5 percent, of the x traffic to v2": the share said inside.
SLICE_TO = (
    r"\b(?:send|route|give|divert|shift)\s+(?:a\s+)?(?:(?:small|tiny|little)\s+)?(?:slice|part|"
    r"portion|share|fraction|bit)\W+(?:(?:maybe|about|around|roughly|say|like)\s+)?"
    r"\d+(?:\.\d+)?\s*(?:%|percent\b|per\s*cent\b)"
)
#: "copy the requests over to it", "duplicate live traffic to v4": a shadow (never to a
#: dashboard, logs or a harness).
COPY_TO = (
    r"\b(?:copy|duplicate|clone|tee)\s+(?:the\s+|all\s+|our\s+)?"
    r"(?:(?:real|live|incoming|production|prod)\s+)?(?:requests|traffic|calls)\s+(?:over\s+)?"
    r"(?:to|onto)\s+(?:it|them|that|this|v\d+|version\s*\d+|the\s+new\s+(?:one|version)|"
    r"[\w.]+-[\w.\-]+(?:\s+v\d+)?)\b(?!\W*(?:s\s+)?(?:dashboard|logs?|harness|test|metrics|bucket|file))"
)
#: "let's take it to Production", "take mnist-cnn v2 to staging" (never "take it to prod
#: slack", "take this to staging discussion").
TAKE_SAID = (
    r"\btake\s+(?:it|that|this|[\w.\-]+(?:\s+v\d+)?)\s+(?:to|into)\s+(?:prod(?:uction)?|staging)\b"
)
TAKE_TO = TAKE_SAID + r"(?=\s*(?:$|[.!?,;]|(?:now|please|pls|today|asap|with|but|and)\b))"
DESCRIBED_CHANGE = re.compile("|".join((BACK_TO_BEFORE_SAID, SLICE_TO, COPY_TO, TAKE_SAID)), re.I)
ROLLBACK = re.compile(
    r"\b(?:roll\s*back|rollback|revert|undo|zur(?:ü|ue)ck(?:rollen|setzen))\b|\broll\s+(?:[\w.\-]+\s+){1,2}back\b"
    # "switch it back pls", "flip mnist-cnn back": back to what served before.
    r"|(?:^\W*|[.!?,;:]\s*|\b(?:please|pls|just|now|then|and|so|you|u)\s+)"
    r"(?:switch|flip|put|pin)\s+(?:it|that|this|(?:the\s+)?[\w.\-]+)\s+back\b"
    r"(?=\s*(?:to\s+(?:v|version\s*)\d+\b|(?:now|asap|please|pls|plz)\b|[.!,;]|$))"
    # "Back to v1 the mnist-classifier, now.", "ok that was a mistake, back to v1"
    r"|(?:^\W*(?:(?:ok|okay|so|then|now|just|and|please|pls|no|sorry|oops|right)\W+)*"
    r"|^\W*[A-Za-z][\w.]*-[\w.\-]+\s*:\s*"
    r"|\b(?:mistake|wrong|bad|broken|failing|garbage)\W*[,;.!\u2013\u2014-]\s*)back\s+to\s+"
    r"(?:v|version\s*)\d+\b"
    # ... and nothing after it but the model, "please" or "now": never "back to v1 accuracy",
    # "back to v1, how does it compare", "... and then back to v1 on Tuesday"
    r"(?=(?:\s+(?:the\s+|for\s+|on\s+|of\s+)?[A-Za-z][\w.]*-[\w.\-]+)?"
    r"(?:\s*,?\s*(?:please|pls|now|asap|immediately|thx))*\s*[.!]*"
    r"(?:\s*(?:now|asap|please|pls)[\s.!]*)?$)"
    # "we need the old version back", "bring the previous one back"
    # "demote x", "unpromote x v1", "back out the last release", "take x out of production"
    # (out of Staging is no rollback: the archive reading says what does that)
    r"|\b(?:de-?mote|un-?promote)\b(?![^.!?;]*\bstag(?:e|ing)\b)|\bback\s+out\s+(?=(?:the|that|this|it|v\d+|[\w.]+-[\w.\-]+)\b)"
    r"|\btake\s+(?:\S+\s+){0,3}?out\s+of\s+prod(?:uction)?\b"
    r"(?=\s*(?:[.!?,;]|$|now\b|please\b|pls\b|asap\b|immediately\b|for\s+now\b))"
    r"|\b(?:need|want|get|bring|put|have)\s+(?:the\s+)?(?:old|previous|prior|last|earlier)\s+"
    r"(?:version|one|model|build|release)\s+"
    # "put the old version of the mnist classifier back"
    r"(?:of\s+(?!(?:the\s+)?(?:model\s+)?(?:card|dashboard|config|doc|docs|readme|file|page|"
    r"slide|runbook|script)s?\b)(?:the\s+)?[\w.\-]+(?:\s+[\w.\-]+)?\s+)?back\b"
    r"(?!\s+(?:in|into|to|on)\s+(?:the\s+)?staging\b)"
    # "restore the previous version of x"
    r"|\brestore\s+(?:the\s+)?(?:old|previous|prior|last good|earlier)\s+"
    r"(?:version|one|build|release)\b"
    # "is possible to go back with x to version 1?"
    r"|\bgo\s+back\b(?=.{0,40}?\bto\s+(?:v|version\s*)\d+\b)"
    # "I want to return x on the old version", "go back to the previous one"
    # "can we go back to the previous production of x?"
    # "it's mnist-classifier I want back on v1"
    r"|\b(?:want|need)\s+(?:it\s+|[\w.\-]+\s+)?back\s+(?:on|to)\s+(?:v|version\s*)\d+\b"
    r"|\b(?:return|switch\s+back|go\s+back|put)\b.{0,40}?\b(?:to|on|onto)\s+(?:the\s+)?"
    r"(?:old|previous|prior|last good|earlier)\s+(?:prod(?:uction)?\s+)?"
    r"(?:version|one|model|build|release|prod(?:uction)?)\b"
    r"|" + BACK_TO_BEFORE,
    re.I,
)
#: Who or what a share of traffic is a share of.
_AUDIENCE = (
    r"(?:traffic|requests|users|calls|load|predictions|customers|people|clients|visitors|"
    r"sessions|queries)"
)
CANARY = re.compile(
    r"\bcanar(?:y|ies)\b|\bshadow(?:ing)?\b|\bsplit\b|\bmirror(?:ing)?\b|\ba\s*/?\s*b[\s-]+test\b|"
    r"\b(?:send|route|give)\s+\d+(?:\.\d+)?\s*(?:%|percent\b|per\s*cent\b)"
    r"|" + SLICE_TO + "|" + COPY_TO +
    # "try v4 on 5% of real traffic", "expose v3 to 10 percent of users": a share of traffic.
    r"|\b(?:stop|quit|cease)\s+(?:sending|routing|splitting|mirroring|shadowing)\b"
    r"|\d+(?:\.\d+)?\s*(?:%|percent\b|per\s*cent\b)\s*of\s+(?:the\s+|our\s+|all\s+)?"
    rf"(?:\w+\s+){{0,2}}{_AUDIENCE}\b"
    # "with a small part of users", "a slice of the traffic": a share said in words.
    r"|\b(?:a|some|only\s+a|just\s+a)\s+(?:(?:small|tiny|little|limited)\s+)?(?:part|slice|"
    r"portion|fraction|share|subset|sample|bit|handful|percentage)\s+of\s+(?:the\s+|our\s+)?"
    rf"(?:\w+\s+)?{_AUDIENCE}\b"
    # "try it on small part of traffic": the article left out, after a verb of trying
    r"|\b(?:try|test|run|expose|put)\s+(?:it|that|this|[\w.\-]+(?:\s+v\d+)?)\s+(?:on|to)\s+"
    r"(?:small|tiny|little|limited)\s+(?:part|slice|portion|fraction|share|subset|sample)\s+of\b"
    # "could I have 15% of the digits route go to v4": a route's share sent to a version
    r"|\d+(?:\.\d+)?\s*(?:%|percent\b)\s*of\s+(?:the\s+)?[\w\-]+\s+route\s+"
    r"(?:(?:go|goes|sent|routed)\s+)?(?:to|on|onto)\s+(?:v|version\s*)\d+\b",
    re.I,
)
STOP = re.compile(
    r"\b(?:stop|quit|cease|end|cancel|remove|kill|halt|finish|turn\s+off|abort|pull|disable|"
    r"(?:turn|switch|shut)\s+(?:it|that|this|the\s+canary)\s+off|done with|"
    r"(?:shut|close|wind)\s+(?:it|that|this|the\s+canary)\s+down|"
    r"terminate|(?:get|take)\s+(?:[\w.\-]+\s+){0,3}?off|"
    r"shut\s+down|roll\s*back|revert|undo|scrap|drop|stoppen|beenden|abbrechen)\b"
    # "CANARY OFF. x. now.", "canary mnist-classifier v2 OFF NOW" (never "canary x off?",
    # "canary x is off", "canary x kicked off yesterday")
    r"|\bcanary\s+off\b(?!\s*\?)"
    r"|\bcanary\s+(?:(?!(?:is|was|went|kicked|set|got|turned|goes|be|been|on)\b)[\w.\-@:]+\s+){0,2}?"
    r"off\b(?=\s*(?:(?:now|asap|please|pls|immediately)\b\W*)*(?:[.!,;]|$))"
    # The canary stated as a problem: "it should not be running anymore", "not needed now".
    r"|\b(?:should|must)(?:\s*not|nt)\s+(?:be\s+)?(?:running|on|live|there|active|needed)\b"
    r"|\b(?:should|must)(?:\s*not|nt)\s+(?:be\s+)?(?:\w+\s+)?any\s?(?:more|longer)\b"
    r"|\b(?:no\s+longer|not|isnt|is\s+not)\s+(?:needed|wanted|necessary|useful)\b"
    # "move 100% of traffic back to prod": nothing left on the canary.
    r"|\b(?:all|100\s*%|100 percent|everything)\b.{0,30}\bback\b|\bback to prod(?:uction)?\b",
    re.I,
)
#: A change in place of the one just discussed ("a canary instead").
INSTEAD = re.compile(r"\binstead\b|\brather\b", re.I)
#: Changing the share of the canary that runs ("bump the canary to 50%").
RESHARE = re.compile(
    r"\b(?:bump|raise|increase|lower|reduce|decrease|set|change|adjust|ramp|scale|take|dial|"
    r"move|up|drop|cut|trim|shrink|halve|double|throttle|bring|push|open\s+up|make)\b"
    # "is too much, 10% pls", "too little traffic, 30%": a share said after it, and no more
    r"|(?:^|[.!?;,]\s*)(?:hmm+\W+)?(?:(?:it|that|this|the\s+share|the\s+traffic|\d+\s*%?)\s+)?"
    r"(?:is|'s)?\s*(?:too\s+(?:much|high|big|little|low|small|aggressive)|a\s+lot)"
    r"(?:\s+traffic)?\W*"
    r"\d+(?:\.\d+)?\s*%(?:\s*(?:pls|please|now|instead|then|thx))*\W*$",
    re.I,
)
#: A request said as a polite question ("could you make it 30%?", "is possible to make it
#: bigger, 30 percent?"), unlike "make it 50%?", which asks whether to.
POLITE_ASK = re.compile(
    r"^\W*(?:(?:hi|hello|hey|ok|okay|so|and|also)\W+)*(?:(?:can|could|would|will)\s+(?:you|u|we)"
    r"(?:\s+please)?|is\s+(?:it\s+)?possible(?:\s+to)?|any\s+chance\s+(?:you\s+)?(?:could\s+)?)"
    r"\s+(?:make|set|raise|bump|increase|lower|reduce|change|move|take|put|up|drop|cut)\b"
    r"(?:(?!\b(?:or|if|unless|when|once|tomorrow|later|after)\b)[^?])*\?\s*$",
    re.I,
)


def polite_ask(text: str) -> bool:
    """ "could you make it 30%?", or that after a remark ("It holds up well. Could we increase
    that to 20 percent?"): a request, though it ends with a question mark."""
    if POLITE_ASK.match(text):
        return True
    *before, last = re.split(r"(?<=[.!])\s+", text.strip())
    return bool(before) and "?" not in " ".join(before) and POLITE_ASK.match(last) is not None


GUARD = re.compile(
    r"\bguard(?:ed|s)?\b|\bauto(?:matic(?:ally)?)?[\s-]*roll\s*back\b|\broll[\s-]*back\s+guards?\b"
    # "... if it rolled itself back automatically should latency degrade"
    r"|\broll(?:s|ed)?\s+(?:itself|themselves)\s+back\b"
    r"|\broll(?:s|ed)?\s+back\s+(?:on\s+its\s+own|by\s+itself|automatically)\b"
    # "if it gets slow, switch back automatically"
    r"|\b(?:switch|go|flip|revert)(?:es|ed)?\s+back\s+(?:on\s+its\s+own|by\s+itself|automatically)\b"
    r"|\bautomatically\s+(?:switch|go|flip|revert|roll)(?:es|s|ed)?\s+back\b"
    # "with that automatic switch-back safety thing"
    r"|\bauto(?:matic)?[\s-]*(?:switch|flip|fall)[\s-]*back\b",
    re.I,
)
#: A guard refused: "no guard needed", "without a guard", "don't add the auto-rollback guard",
#: "the guard is not needed".
NO_GUARD = re.compile(
    r"(?:\b|(?<=\s))(?:no|(?:without|w/o)(?:\s+(?:a|an|the|any))?|(?:don'?t|do\s+not)\s+(?:need|want|add|use|set|turn\s+on)"
    r"(?:\s+(?:a|an|the|any))?|skip(?:\s+the)?|never\s+mind\s+the)\s+"
    r"(?:auto(?:matic)?[\s-]*)?(?:roll[\s-]*back\s+)?guard"
    r"|\bguard\s+(?:is\s+)?(?:not|isn'?t|isnt)\s+(?:needed|necessary|required|wanted)\b"
    # "no auto-rollback", "auto-rollback off", "turn off the guard", "no need for a guard"
    r"|(?:\b|(?<=\s))(?:no|skip|without|w/o|disable)\s+(?:an?\s+|the\s+)?auto(?:matic)?[\s-]*roll[\s-]*back\b"
    r"|\b(?:auto(?:matic)?[\s-]*roll[\s-]*back|guard)\s+(?:off|disabled)\b"
    r"|\b(?:turn|switch)\s+off\s+(?:the\s+)?(?:auto(?:matic)?[\s-]*roll[\s-]*back|guard)\b"
    r"|\bno\s+need\s+for\s+(?:a|an|the)\s+(?:[\w-]+\s+)?guard\b"
    r"|\bdon'?t\s+bother\s+with\s+(?:a|an|the)\s+(?:[\w-]+\s+)?guard\b"
    # "it will not switch back automatically", "we won't roll back automatically"
    r"|\b(?:not|n't|never)\s+(?:\w+\s+)?(?:switch|go|flip|roll|revert)\s+back\s+automatically\b"
    r"|\bautomatically\?\s*no\b"
    # "without the automatic switch-back", "no auto fall-back needed", "disable the auto flip-back"
    r"|(?:\b|(?<=\s))(?:no|skip|without|w/o|disable|never\s+mind)\s+(?:an?\s+|the\s+|any\s+)?"
    r"auto(?:matic)?[\s-]*(?:switch|flip|fall)[\s-]*back\b"
    r"|\bauto(?:matic)?[\s-]*(?:switch|flip|fall)[\s-]*back\s+(?:off|disabled|not\s+needed)\b"
    r"|\b(?:turn|switch)\s+off\s+(?:the\s+)?auto(?:matic)?[\s-]*(?:switch|flip|fall)[\s-]*back\b",
    re.I,
)


def wants_guard(text: str) -> bool:
    """Whether ``text`` asks for the automatic-rollback guard (said, and not refused, and not
    only asked about: "promote x v2; is there an auto rollback guard?")."""
    said = _GUARD_QUESTION.sub(" ", text)
    return GUARD.search(said) is not None and NO_GUARD.search(text) is None


#: A sentence that asks how things are ("is there a guard?", "- does mnist-cnn have a guard?");
#: a polite request ("can you add a guard?") is no such question.
_GUARD_QUESTION = re.compile(
    r"(?:^|[.!?;]\s*|\s[-\u2013\u2014]\s)\W*(?:is|are|does|do|did|has|have|was|were|what|which|how|"
    r"isn'?t|doesn'?t|any)\b[^.!?;]*\?"
    # "..., and tell me if the rollback guard is on for v1": asked about, not asked for
    r"|\b(?:tell\s+me|let\s+me\s+know|check)\s+(?:if|whether)\b[^.!?;]*",
    re.I,
)


PERCENT = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:%|percent\b|per\s*cent\b|pct\b|/\s*\d+(?:\.\d+)?\b)", re.I
)
#: Asking for a stage change: a verb of moving ("promote", "ship", "propose promoting"),
#: "make X the production one", "stage X", "v3 to staging" ("v3->stg" once normalised).
PROMOTE = re.compile(
    r"\b(?:promote|promoting|promoten|deploy|deployen|ship|move|push|graduate|roll\s*out|go\s+live"
    # "release v3", "release it to prod" (never "after the v2 release")
    r"|release(?=\s+(?!(?:notes?|candidates?|branch|train|date|schedule|process|checklist|is|was|"
    r"has|had|broke|went|of|for|on|in|and|but)\b)\S)"
    # "bump it to production", never "bump it to 50%" (a canary's share)
    r"|bump(?!\s+(?:[\w.\-]+\s+){0,3}?(?:up\s+)?to\s+\d+(?:\.\d+)?\s*(?:%|percent|pct|\b))"
    # "put it at 30": a canary's share, never a move
    r"|queue\s+up|put(?!.{0,40}\b(?:next to|beside|side by side)\b)"
    r"(?!\s+(?:\S+\s+){0,2}?(?:at|to|on)\s+\d+(?:\.\d+)?\s*(?:%|percent\b|pct\b)?(?:\W|$))"
    r"(?!\s+(?:\S+\s+){0,3}?on\s+(?:hold|ice|pause|the\s+agenda|the\s+list|notice)\b)"
    r"(?!\s+(?:a|the)\s+(?:note|comment|label|tag|reminder)\b)"
    r"|make\b.{1,40}\blive)\b"
    r"|\bmake\b.{1,60}?\b(?:the\s+)?(?:new\s+)?(?:prod(?:uction)?|staging)"
    r"(?:\s+(?:one|version|build|model|release)\b|(?=\s*(?:[.!?,]|$|please|pls|now|thanks|for\s)))"
    r"|^\W*(?:(?:please|pls|can you|could you|go ahead and)\s+)?stage\s+(?!is\b|=|:|of\b|for\b)"
    r"|\bv\d+\s+(?:to|into)\s+(?:prod(?:uction)?|staging)\b"
    # "please bring x version 2 into Production", "I'd like to bring ..." (asked, at a clause's
    # start; never "bring the old one back", "don't bring", "bring it to prod support")
    r"|(?:^\W*|[.!?;,]\s*|\b(?:please|pls|could\s+you|can\s+you|would\s+you|"
    r"i\s+would\s+like\s+to|i'?d\s+like\s+to|i\s+want\s+to|let'?s|we\s+(?:need|want)\s+to)\s+)"
    r"bring\s+(?!(?:\S+\s+){0,4}?back\b)(?:\S+\s+){1,6}?(?:to|into)\s+"
    r"(?:prod(?:uction)?|staging)(?=\s*(?:$|[.!?,;]|(?:now|please|pls|with|today|asap)\b))"
    r"|" + TAKE_TO +
    # "send it to prod", "send mnist-classifier v4 to staging"
    r"|\bsend\s+(?:it|that|this|[\w.\-]+(?:\s+v\d+)?)\s+(?:to|into)\s+(?:prod(?:uction)?|staging)\b"
    r"(?!\s+(?:support|folks|team|people|channel|on-?call|ops|eng\w*|review\w*|link)\b)"
    # "could you prepare the promotion of x v3", "draft a promotion for x"
    r"|^\W*(?:(?:please|pls|could you|can you|would you|kindly)\s+)*(?:prepare|draft|start|open|"
    r"set\s+up|create|raise|file)\s+(?:the\s+|a\s+)?promotion\s+(?:of|for)\b"
    # "can we get v3 of digits promoted?", "I'd like to have v2 promoted"
    r"|\b(?:get|have)\s+(?:[\w.\-]+\s+){1,6}?promoted\b"
    # "can we get v2 of x out to production"
    r"|\bget\s+(?:[\w.\-]+\s+){1,6}?(?:out|up|over)\s+(?:to|into|on)\s+(?:prod(?:uction)?|staging)\b"
    # "I'd like to propose v4 for staging", "nominate v3 for production": a move, asked for.
    r"|\b(?:propos(?:e|ing)|nominat(?:e|ing)|put\s+forward|queue)\b(?=.{1,80}\b(?:v\d+|version\s*\d+"
    r"|for\s+(?:prod(?:uction)?|staging)|to\s+(?:prod(?:uction)?|staging))\b)",
    re.I,
)
#: A move asked for as the state wished for: "I would like that x version 4 goes to
#: Production", "can v3 of x go to staging?", "we want version 2 to be in prod", "v5 should
#: be on staging": a version, then it going, being moved or being in a stage.
MOVED_TO_STAGE = re.compile(
    r"\b(?:v|version\s*)\d+\b(?:\s+[\w.\-]+){0,3}?\s+(?:goes|go|going|gets|get|moves|move|lands?|"
    r"(?:to\s+|should\s+|must\s+|could\s+|can\s+|needs?\s+to\s+|ought\s+to\s+)?be\s+"
    r"(?:moved|put|pushed|promoted|deployed|released|placed|made|set|live)?|ends?\s+up|"
    r"(?:to|should|must|can|could)\s+(?:go|move|land|get))"
    r"\s*(?:to|into|in|on|onto)\s+(?:the\s+)?(?:prod(?:uction)?|staging)\b",
    re.I,
)
#: A question about a move made (not a request for one): "did v3 go to prod?", "was v2
#: moved to staging?", "when did ...".
ASKS_IF_MOVED = re.compile(
    r"^\W*(?:did|has|have|had|was|were|when|why|who|is it true)\b"
    r"|\b(?:did|has|have|had|was|were)\s+(?:[\w.\-]+\s+){0,4}?(?:v|version\s*)\d+\b",
    re.I,
)
#: Words of a change request: a message with one is never answered as a details view.
CHANGE_ASK = re.compile(
    r"\b(?:propos\w*|promot(?:e|ing)|switch|swap|upgrade|downgrade|deploy|ship|release)\b"
    r"|\bmake\b.{1,60}\b(?:prod(?:uction)?|staging)\b"
    r"|\bset\b.{1,60}\bto\s+(?:prod(?:uction)?|staging)\b",
    re.I,
)
#: A question about how something stands ("did my request go through?"), not a request.
STATUS_QUESTION = re.compile(r"^\W*(?:did|is|are|has|have|was|were)\b", re.I)
#: A promotion aimed at Staging by its verb ("stage mnist v4").
STAGE_VERB = re.compile(
    r"^\W*(?:(?:please|pls|can you|could you|go ahead and)\s+)?stage\s+(?!is\b|=|:)", re.I
)
#: "make v2 the production one": the stage a "make" names.
MAKE_STAGE = re.compile(
    r"\bmake\b.{1,60}?\b(?:the\s+)?(?:new\s+)?(prod(?:uction)?|staging)\b", re.I
)
#: The version a message names by its stage ("whatever is in staging", "the staging build").
STAGE_SOURCE = re.compile(
    r"\b(?:whatever|what|whichever(?:\s+version)?|the\s+(?:version|one|build|model))"
    r"\s+(?:that\s+)?(?:is|sits|is\s+sitting)\s+(?:currently\s+|now\s+)?(?:in|on)\s+"
    r"(prod(?:uction)?|staging)\b"
    r"|\b(?:the\s+)?(?:current\s+)?(staging|prod(?:uction)?)\s+(?:build|version|one|candidate)\b"
    # "make staging the new production for x"
    r"|^\W*make\s+(staging|prod(?:uction)?)\s+(?=the\s+new\b)",
    re.I,
)
COMPARE = re.compile(
    r"\b(?:compare[sd]?|comparison|cmp|next to|side by side|diff|difference|differences|vs\.?|"
    r"versus|"
    r"better than|worse than|beats?|outperforms?|improves? on|regress(?:es|ed)? (?:on|from)|"
    r"changed between|change between|stack up|against)\b"
    # "how much better is the staging version than what's in production?"
    r"|\b(?:better|worse|faster|slower|more accurate|less accurate)\b.{1,80}?\bthan\b",
    re.I,
)
#: A question about what was moved ("what did we push to x last?", "what got deployed to x"):
#: the history, not a move.
WHAT_WAS_MOVED = re.compile(
    r"\bwhat\s+(?:(?:did|have|has)\s+(?:we|you|they|someone|somebody|anyone|people|the team)\s+"
    r"(?:just\s+|last\s+)?(?:push|deploy|ship|release|promote|roll\s*out|put|change)(?:ed)?"
    r"|(?:was|got|has been|have been)\s+(?:last\s+|just\s+)?(?:pushed|deployed|shipped|released|"
    r"promoted|rolled\s*out|put|changed))\b",
    re.I,
)
AUDIT = re.compile(
    r"\baudit\b|\bhistory\b|(?<!\bdid\s)(?<!\bdoes\s)(?<!\bto\s)\blog\b(?!ged\b)|\bwho\s+(?:changed|promoted|moved|rolled|approved|denied)\b"
    r"|\bwhat happened\b|\brecent (?:changes|activity)\b|\bchangelog\b|\bwhat changed\b"
    r"|\bwho (?:did|done|made|approved|asked for|requested) (?:it|that|this)\b"
    # "who started that canary?", "who did the canary", "who broke it"
    r"|\bwho\s+(?:started|ran|kicked\s+off|launched|broke|did)\s+(?:it|that|this|the)\b"
    # "somebody deployed x v2 ten minutes ago. who was it?": who made the change just told.
    r"|\bwho\s+(?:was|is)\s+(?:it|that|this)\b|\bwho\s+was\s+(?:that|it)\s+done\s+by\b"
    # "who was the last person to change it?"
    r"|\bwho\s+(?:was\s+)?(?:the\s+)?last\s+(?:person|one)\s+(?:to\s+|who\s+)?(?:change|touch|promot|"
    r"modif|edit|mov|deploy)\w*"
    r"|\b(?:show|list|see|any|all)\s+(?:me\s+)?(?:all\s+)?(?:the\s+)?(?:recent\s+)?changes\b"
    r"|\b(?:any|the|recent|last) (?:promotions|rollbacks|changes|deployments)\b"
    r"|\b(?:anything|something|what)\s+(?:(?:has|have|did)\s+)?(?:happen(?:ed|ing)?|went on|"
    r"going on|go on)\b"
    # "stage changes in december", "how many rollbacks", "the last change to x": changes made.
    r"|\b(?:stage|version)\s+(?:changes|transitions|moves)\b|\b(?:promotions|rollbacks|transitions)\b"
    r"|\b(?:last|latest|most recent)\s+(?:change|promotion|rollback|transition)\b"
    # "anything deployed in the last hour?", "something got rolled back?": changes made.
    r"|\b(?:anything|something)\s+(?:(?:got|was|been|has been|have been)\s+)?(?:deployed|"
    r"promoted|released|shipped|rolled\s*back|reverted|moved|changed)\b"
    r"|" + WHAT_WAS_MOVED.pattern,
    re.I,
)
_CHANGE_NOUN = (
    r"(?:(?:stage|version|model)\s+)?(?:promotions?|rollbacks?|roll-?backs?|transitions?|"
    r"deployments?|releases?|changes?|canar(?:y|ies)|reverts?)"
)
#: Changes already made, asked for by a quantifier ("every promotion and rollback", "all
#: the transitions") or as done ("rollbacks made this week", "changes applied to x"): the
#: history, not a request to make one (unless a verb outside it asks for one).
CHANGES_MADE = re.compile(
    rf"\b(?:every|each|all|any)\s+(?:of\s+)?(?:the\s+|our\s+)?(?:recent\s+|past\s+)?{_CHANGE_NOUN}"
    rf"(?:\s*(?:,|and|or|&|\+)\s*(?:\w+\s+)?{_CHANGE_NOUN})*\b"
    rf"|\b{_CHANGE_NOUN}\s+(?:[\w.\-]+\s+){{0,3}}?(?:made|done|performed|applied|carried\s+out|"
    r"executed|approved|that\s+happened)\b",
    re.I,
)
#: "log" as a verb ("what did v4 log for its baseline"): metrics, not the audit log.
LOG_VERB = re.compile(r"\b(?:did|does|do|will|would|to)\s+(?:[\w.\-]+\s+){0,3}?log\b", re.I)
SELECT = re.compile(
    r"\b(?:recommend(?:s|ation|ations)?|suggest(?:s|ion|ions)?|best|fastest|quickest|"
    r"most accurate|pick|choose|good (?:model|one) for|"
    # "which model is best" picks; "which model is in production" asks what is there.
    r"(?:which|what) model (?:should|do|would|could|can|to|for|"
    r"is(?!\s+(?:(?:currently|now|right now)\s+)?(?:in|on|at|live|serving|deployed|running)\b))|"
    r"should i use|"
    # "which classification model should we point it at"
    r"(?:which|what)\s+[\w\-]+\s+model\s+(?:should|would|do|could)\s+(?:i|we|you)\b|"
    # "which classifier should we put there", "what encoder would you use"
    r"(?:which|what) (?:classifier|regressor|encoder|detector) (?:should|do|would|could|to)|"
    r"(?:which|what) (?:one|model) (?:should|do|would)|good for|ideal for)\b"
    r"|\bfor (?:a |an |my |our )?(?:batch|critical)\b"
    # "whatever we use has to answer within 10ms": the model still to be picked.
    r"|\b(?:whatever|whichever)\s+(?:model\s+|one\s+)?(?:we|i|you)\s+(?:use|pick|choose|call|put)\b",
    re.I,
)
SERVING = re.compile(
    r"\b(?:serving|served|serves|serve|live|deployed|running|router|in prod(?:uction)?|"
    # "how much traffic does v2 get", German "welche version läuft"
    r"how much (?:of the )?(?:traffic|load|requests)|l(?:ä|ae)uft|"
    r"(?:taking|getting|handling|receiving|answering|gets|takes|handles|receives|answers?)"
    r"\s+(?:[\w.\-]+\s+){0,2}?"
    r"(?:traffic|requests|calls)|answering (?:requests|traffic)|in use|"
    # "who handles critical-header requests", "who is answering those": what serves them.
    r"who(?:\s+is|s)?\s+(?:handl|serv|answer|tak|process|receiv)\w*|"
    # "what version is behind the digits endpoint"
    r"(?:version|model|build|who|what) is behind|whos behind|endpoint|"
    r"behind (?:it|that|this|the route)|"
    r"point(?:s|ing|ed)? (?:at|to)|"
    # "which model handles those right now": the requests just named.
    r"(?:handles?|handling|answers?|answering|takes?|taking)\s+(?:those|these|them)|"
    r"on prod(?:uction)?|torchserve|loaded (?:on|in|into|by))\b"
    # "which model+version handles X-Priority: critical", "what version takes the header route"
    # "which version of x is up", "what build is out there"
    r"|\b(?:which|what)\s+(?:version|build|model)\b.{1,40}\b(?:is|are)\s+(?:up|out)\b"
    r"|\b(?:which|what)\s+(?:model|version|build)s?(?:\s*[+/&]\s*(?:model|version|build)s?)?"
    r"\s+(?:\w+\s+)?(?:handles?|serves?|answers?|takes?|gets?|receives?|processes)\b"
    r"|\b(?:which|what) (?:version|build)\b.{1,40}\b(?:in|on) (?:prod(?:uction)?|staging)\b"
    # "which version does the digits route hit by default", "where does the route send people"
    r"|\b(?:route|endpoint)\s+(?:is\s+)?(?:hit|hits|hitting|send|sends|sending|go|goes|going|"
    r"forward|forwards|forwarding|use|uses|using|call|calls|calling)\b"
    # "where do critical reqs on the digits route end up": what answers them
    r"|\bwhere\s+(?:do|does|will|would)\b.{0,80}?\b(?:requests?|reqs|traffic|calls)\b.{0,40}?"
    r"\b(?:end\s+up|go|land|get\s+(?:sent|routed))\b"
    r"|\bby default\b"
    # "which model is it actually hitting", "what version is the endpoint using"
    r"|\b(?:which|what)\s+(?:model|version|build)\s+(?:is|are)\s+(?:it|they|that|this|the\s+route|"
    r"the\s+endpoint|[\w.\-]+)\s+(?:actually\s+|really\s+)?(?:hitting|using|calling|going\s+to|"
    r"sending\s+to|routing\s+to|pointing\s+(?:at|to))\b"
    # "is it back on the old one?", "check it's actually up", "what's routing on digits"
    r"|\b(?:is|are)\s+(?:it|that|this|they|[\w.]+-[\w.\-]+)\s+back\s+on\s+(?:the\s+)?(?:old|previous|"
    r"prior|earlier)\s+(?:one|version|build)\b"
    r"|\bcheck\s+(?:that\s+)?(?:it|that|this|they)(?:\s+is|s|\s+are)\s+(?:actually\s+|really\s+)?"
    r"(?:up|live|back|working)\b"
    r"|\b(?:what|which\s+(?:model|version))\s+is\s+routing\s+(?:on|for)\b"
    # "mnist_cnn status", "status of digits?", "status?": how it serves now
    r"|^\W*(?!(?:the|approval|promotion|incident|rollback|audit|canary|deploy\w*|release|page|"
    r"report|build|job|my|our|your|ticket|pr)\s)[\w.\-]+\s+status\W*$"
    r"|^\W*status\s+(?:of|on|for)\s+(?:the\s+)?[\w.\-]+-[\w.\-]+\W*$"
    # "is mnist-cnn up", "is digits-encoder even up?", "is it down?": whether it serves
    r"|\bis\s+(?:it|that|this|[\w.\-]+)\s+(?:even\s+|still\s+|actually\s+)?"
    r"(?:up|down|alive|healthy|reachable|responding|ok|okay|fine|working|broken)\b"
    r"(?!\s+(?:to|for|with|on|if|that|now\s+to)\b)"
    # "which version is answering on the digits route", "what does /routes/digits hit"
    r"|\b(?:answering|answers|responding|responds)\s+(?:on|at|behind)\s+(?:the\s+)?\S+\s+route\b"
    r"|\bwhat\s+(?:does|do)\s+(?:the\s+)?\S+\s+(?:route\s+)?hit\b"
    # "what version is on mnist-classifier rn", "which build is on x right now"
    r"|\b(?:what|which)\s+(?:version|build|release)\s+(?:is|'s)\s+(?:on|at)\s+(?:the\s+)?"
    r"(?!(?:prod(?:uction)?|staging|stg|archived)\b)[\w.\-]+"
    r"(?:\s+(?:rn|now|right now|currently|today|atm))?\W*$"
    # "whats on digits rn": what serves there now
    r"|^\W*(?:what'?s|what\s+is|whats)\s+(?:running\s+|live\s+)?on\s+(?:the\s+)?"
    r"(?!(?:prod(?:uction)?|staging|stg|archived?|call|deck|the\s+agenda)\b)[\w.\-]+"
    r"(?:\s+(?:route|endpoint))?\s+(?:rn|now|right\s+now|currently|atm|at\s+the\s+moment)\W*$"
    # "what answers the critical header on digits?", "who gets X-Priority: critical?"
    r"|^\W*(?:(?:and|so|ok)\W+)?(?:what|who|which\s+one)\s+(?:answers|handles|serves|takes|gets|receives)\b"
    r"(?=.{0,40}\b(?:requests?|header|route|traffic|calls|critical|x-[\w\-]+)\b)"
    r"|\b(?:what|who)(?:'s|s|\s+is)\s+behind\s+(?:the\s+)?default\b"
    # "what about plain requests on digits, what version?"
    r"|\b(?:requests|traffic|calls)\s+(?:on|to|via|through|hitting)\s+(?:the\s+)?[\w\-]+"
    r"(?:\s+route)?\s*,?\s+(?:what|which)\s+(?:version|model|build)\W*$"
    # "critical traffic goes where right now?", "where do critical requests go on digits"
    r"|\b(?:traffic|requests|calls)\s+(?:(?:on|to|via|through|for)\s+(?:the\s+)?[\w\-]+\s+"
    r"(?:route\s+)?)?(?:go|goes|going|land|lands|end\s+up)\s+where\b"
    r"|\bwhere\s+(?:does|do|is|are)\s+(?:the\s+)?(?:[\w\-]+\s+){0,2}?(?:traffic|requests|calls)"
    r"\s+(?:go|going|land|landing|sent)\b",
    re.I,
)
LIST = re.compile(
    r"\bmodels\b|^(?:list|ls)\b|\b(?:every|each|all(?: the)?)\s+models?\b|\bhow\s+many\s+models?\b"
    r"|\b(?:what|which) is (?:in|on) (?:prod(?:uction)?|staging)\b"
    r"|\bwhat do we have\b|\beverything\b|\bcatalog(?:ue)?\b|\binventory\b"
    r"|\b(?:anything|what is) (?:in|on) (?:prod(?:uction)?|staging)\b|\bwhat is live\b"
    r"|\b(?:which|what) (?:ones?|models?|versions?)? ?"
    r"(?:are|is|got|were|was|went|have been|has been) (?:sitting |currently |now |still |already )?"
    r"(?:in |on )?(?:prod(?:uction)?|staging|archived)\b"
    r"|\b(?:the )?(?:prod(?:uction)?|staging|archived) ones\b"
    # "show all the feature extraction ones": every model of a kind.
    r"|^\W*(?:show|list|give)\s+(?:me\s+)?all\s+(?:the\s+|our\s+)?(?:[a-z]+[\s\-]){1,2}ones\b"
    # A stage said as a heading: "- prod: what's in it", "staging, classification only"
    r"|^\W*(?:prod(?:uction)?|staging|archived?)\s*[:,\-]\s*(?:what'?s\s+(?:in|on)\s+(?:it|there)"
    r"|(?:classification|feature[\s\-]extraction)(?:\s+(?:models\s+)?only)?)\W*$",
    re.I,
)
#: Another model for the task of the one under discussion ("anything faster for that task?",
#: "is there something more accurate?" right after a model's card).
SAME_TASK_AS_FOCUS = re.compile(
    r"\b(?:that|this|the same|same|its)\s+(?:task|job|use[\s-]?case|kind of work)\b"
    r"|^\W*(?:(?:is|are)\s+there\s+|do\s+we\s+have\s+)?(?:anything|something|any\s+other|"
    r"another(?:\s+one|\s+model)?)\s+(?:even\s+|a\s+bit\s+|much\s+)?(?:fast\w*|quick\w*|"
    r"more\s+accurate|better|lighter|smaller|cheaper)\b",
    re.I,
)
#: The serving state of every model ("serving status for all models", "health of every
#: model"), not a list of Production versions.
ALL_SERVING = re.compile(
    r"\b(?:serving|served|health|healthy|running|live|up)\b.{0,30}\bacross the board\b"
    r"|\b(?:serving|health|healthy|running|live|up)\b.{0,30}\b(?:all|every|each)\s+"
    r"(?:the\s+|our\s+)?models?\b"
    r"|\b(?:all|every|each)\s+(?:the\s+|our\s+)?models?\b.{0,30}"
    r"\b(?:serving|health|healthy|running|live|up)\b",
    re.I,
)
#: What the server holds beside the default: "loaded", "still warm", "in memory".
LOADED = re.compile(
    r"\b(?:loaded|unloaded|warm|cold|resident|in memory|alongside|next to it)\b", re.I
)
#: Comparing said outright ("compare", "vs", "against"), not "next to".
COMPARE_WORD = re.compile(r"\b(?:compare|comparison|cmp|vs\.?|versus|against|diff)\b", re.I)

DETAILS = re.compile(
    r"\b(?:show|describe|info|information|details?|about|card|tell me (?:about|more)|look at|"
    r"open|inspect|metrics|versions|zeig\w*|karte)\b",
    re.I,
)

GOALS: list[tuple[Goal, re.Pattern[str]]] = [
    (
        "batch",
        re.compile(
            r"\b(?:batch\w*|bulk|nightly|offline scoring|throughput|backfill\w*|"
            r"nobody waits|no one waits)\b",
            re.I,
        ),
    ),
    (
        "critical",
        re.compile(
            r"\b(?:critical|high[- ]stakes|must not fail|important requests|safety|"
            r"high[- ]priority|dependable|most reliable)\b",
            re.I,
        ),
    ),
    (
        "latency",
        re.compile(
            r"\b(?:fast|faster|fastest|quick(?!\s+(?:one|question|q)\b)|quickest|"
            r"low(?:est)? latency|latency|real[- ]?time|"
            r"speed|snappy|lightweight|responsive|"
            # "answers in under 20ms": how fast it answers is what is asked for.
            r"(?:answers?|responds?|replies|returns?)\s+(?:in|within)\s+(?:under\s+)?\d[\d.]*\s*"
            r"(?:ms|milliseconds?))\b",
            re.I,
        ),
    ),
]
TASKS = {
    "classification": "classification",
    "classifier": "classification",
    "classifiers": "classification",
    # Shell-style abbreviations: "ls prod clf models".
    "clf": "classification",
    "clfs": "classification",
    "classify": "classification",
    "classifying": "classification",
    "regression": "regression",
    "regressor": "regression",
    "regressors": "regression",
    # "recommend an encoder for similarity search": what an encoder does is feature extraction.
    "encoder": "feature-extraction",
    "encoders": "feature-extraction",
    "detection": "detection",
    "segmentation": "segmentation",
    "forecasting": "forecasting",
    "ranking": "ranking",
    # "digit recognition": telling classes apart is classification.
    "recognition": "classification",
}
FOR_TASK = re.compile(
    r"\bfor\s+(?:an?\s+|the\s+|my\s+|our\s+)?([a-z][\w\- ]*?)\s*"
    r"(?:$|[?.!,]|\b(?:under|within|below|less|at most|with|that|which|and|in)\b)",
    re.I,
)
#: Words around a task name that are not the task ("for a batch job", "for critical requests").
NOT_TASK_WORDS = """a an the my our task tasks use work workload workloads job jobs batch path paths
    batches bulk critical requests request traffic inference scoring nightly real time
    real-time realtime fast speed latency low production prod me us it this that something
    stuff things everything anything people users clients serving api apis service services
    endpoint endpoints app apps application applications customer customers team teams web
    mobile demo sensitive product case cases"""
NOT_TASK = frozenset(NOT_TASK_WORDS.split())

COMMON_WORDS = """
    a about against all an and any anything are as at audit back be best better by can
    changed changes compare current currently deploy deployed describe detail details did do
    does everything for from get give go happened has have history how i in info information
    is it its latest list live log made make me model models move moved my now of on or please
    prod production promote promoted put recommend release released revert rollback roll
    rolled serve served serves serving shall ship should show stage staging status suggest
    tell that the this to use used version versions vs versus was what whats which who why
    will with would you your archived archive none pending approval approvals proposals
    proposal waiting one ones new same previous prior earlier last old older recommended
    pick choose there here we us our them those these up out let lets now just again also
    hey hi hello ok okay thanks thank so then than into onto run running go push graduate
    look open inspect card metrics fastest quickest accurate most fast quick good ideal
    difference differences between diff undo since because whole current live right more
    when approved needs need awaiting recent activity change promotion deployment
    instructions ignore previous human review sign off anyone someone
    canary canaries shadow mirror split send route traffic percent share stop end cancel
    start guard guarded guards automatic automatically doing going auto error rate spikes
    actually meant mean wait sorry oops instead rather only just no yes
    try trying test testing expose exposing trial pilot shift first
    shadowing mirroring splitting canarying begin beginning second secondly
    delete remove rename retrain erase purge wipe drop
    touch touching proceed approve approving wanted wants switch flip fall safety
    take taking bring bringing
    """
STOPWORDS = frozenset(COMMON_WORDS.split()) | VOCABULARY

#: Incident words: with a model named or under discussion, they ask for a rollback.
ONCALL = re.compile(
    r"\b(?:urgent|emergency|asap|incident|outage|sev[- ]?[0-2]|p[0-1]|on fire|broken|broke|"
    r"garbage|junk|nonsense|is down|went down|melting down|meltdown|hotfix|paged|pager|"
    r"(?:throwing|returning) (?:5\d\ds|5xx|errors)|errors everywhere|"
    r"bad predictions|wrong predictions|predictions are (?:wrong|bad|off)|"
    r"(?:returning|returns|giving|spitting out) (?:garbage|junk|errors?|wrong|bad)|"
    r"back to (?:the )?(?:previous|last|old|prior)(?: one| version| good one)?|"
    r"last (?:known )?good(?: version| one)?|get (?:the )?old (?:one|version) back|"
    r"go back|put (?:the )?(?:old|previous) (?:one|version) back)\b",
    re.I,
)
#: A hard latency requirement ("p99 must stay below 5 ms", "must be <50 ms", "latency has
#: to stay under 20ms"): the answer should be the fastest model, not the most accurate one.
LATENCY_NEED = re.compile(
    r"\b(?:p\d{2,3}|latency|response time|hard\s+limit)\b"
    r".{0,30}\d[\d.]*\s*(?:ms|milliseconds?)\b"
    r"|\b(?:must|has to|have to|needs? to|should)\s+(?:be|stay|remain|keep|answer|respond|"
    r"return)\s+(?:\w+\s+)?(?:under|below|within|<=?|less than|at most)\s*\d",
    re.I,
)
#: The chat's opinion asked: "Roll back x? what do you think?", "your thoughts?", "good idea?".
OPINION = re.compile(
    r"\bwhat\s+do\s+you\s+(?:think|reckon)\b|\byour\s+(?:thoughts|opinion|view|take)\b"
    r"|^\W*(?:any\s+)?thoughts\W*$|\b(?:good|bad)\s+idea\s*\?",
    re.I,
)
#: A plea to act on an incident (with ONCALL words above: "undo it now", "fix it!!!").
ACT_NOW = re.compile(r"\b(?:now|immediately|right away|asap|fix it|fix this)\b|!{2,}", re.I)
SYNC = re.compile(
    r"\bin sync\b|\bout of sync\b|\bsynced\b|\bdrift\w*\b"
    r"|\bmatch(?:es)? (?:what )?the registry\b",
    re.I,
)
#: "task = feature-extraction", "task: classification"
TASK_IS = re.compile(r"\btask\s*(?:=|:|is)\s*([A-Za-z][\w\-]*)", re.I)
#: Up to two words, then what a classifier is given ("labels scanned digit images").
_FEW = r"(?:\w+ ){0,2}"
_INPUTS = r"(?:images|pictures|photos|scans|inputs|samples)"
#: Tasks of more than one word, as the registry spells them.
MULTI_WORD_TASKS = {
    # A task said by what it does: putting labels or categories on inputs is classification.
    rf"labels? {_FEW}{_INPUTS}": "classification",
    rf"labell?ing {_FEW}{_INPUTS}": "classification",
    rf"(?:tags?|tagging|categori[sz]es?|categori[sz]ing|sorts?|sorting) {_FEW}{_INPUTS}": (
        "classification"
    ),
    # Telling digits apart: "scores two million scanned digits", "digit predictions".
    r"(?:scor(?:e|es|ing)|recogni[sz]\w*|read(?:s|ing)?|predict\w*) (?:\w+ ){0,4}?digits?": (
        "classification"
    ),
    r"digits? (?:predictions?|recognition|labels?)": "classification",
    "feature extraction": "feature-extraction",
    r"feature[\s-]extractors?": "feature-extraction",
    "embeddings": "feature-extraction",
    "embedding": "feature-extraction",
    # "a job that embeds 2M digit images", "vectors for a similarity index"
    r"embeds? (?:\S+ ){0,4}?(?:images?|digits?|inputs?|samples?|documents?|items?)": (
        "feature-extraction"
    ),
    r"similarity (?:index|search|lookup)": "feature-extraction",
}

#: Words that turn a change said into one refused, held or asked about: "don't end it yet",
#: "no need to kill it", "I meant v3 not v4, but hold off", "just kidding" (said of the one
#: change a follow-up reads).
HELD = re.compile(
    r"\b(?:don'?t|do\s+not|doesn'?t|never|no\s+need|shouldn'?t|should\s+(?:i|we)|hold\s+off|"
    r"not\s+yet|kidding|joking|rather\s+not|let'?s\s+not|wouldn'?t|would\s+not)\b",
    re.I,
)
#: A change verb refused or asked about, and the kind of change it is: "never promote x",
#: "should I roll back x?", "let's not go back to the previous version".
_NEGATOR = (
    r"\b(?:don'?t|do\s+not|never|no\s+need\s+to|shouldn'?t|should\s+not|should\s+(?:i|we)|let'?s\s+not|"
    # "I wonder whether we should roll back x": thought about, not asked for
    r"wonder(?:ing|ed)?\s+(?:whether|if)\s+(?:we|i)\s+(?:should|ought\s+to|might\s+want\s+to)|"
    r"rather\s+not|wouldn'?t|would\s+not|won'?t|will\s+not|not\s+going\s+to)\s+(?:\w+\s+){0,2}?"
)
HELD_VERB: list[tuple[str, re.Pattern[str]]] = [
    (
        "rollback",
        re.compile(
            _NEGATOR + r"(?:roll|rollback|revert|go\s+back|undo|want|need|switch|flip|put|pin|"
            r"de-?mote|un-?promote|back\s+out|take\s+(?:\S+\s+){0,3}?out)\b"
            r"|^\W*no\s+(?:roll\s*backs?|rollbacks?|reverts?)\b"
            r"|\b(?:can'?t|cannot|can\s+not)\s+(?:\w+\s+){0,2}?(?:roll|revert|go\s+back|switch|flip)\b",
            re.I,
        ),
    ),
    (
        "promote",
        re.compile(
            _NEGATOR + r"(?:promote|ship|deploy|move|push|release|make|send(?!\s+(?:me|us)\b)|"
            # "don't put v4 in QA", "never bring it to prod", "don't take it to staging"
            r"put(?!\s+(?:\S+\s+){0,2}?back\b)|graduate|roll\s*out|bump|go\s+live|stage|queue|"
            r"(?:take|bring)\s+(?:[^\s,;.]+\s+){1,3}?(?:to|into|in)\s+(?:prod\w*|staging|qa|uat|testing)|"
            r"get\s+(?:\S+\s+){1,4}?(?:promoted|to\s+prod\w*|to\s+staging|live))\b"
            # "I'm not promoting x v3 yet", "not promoting x v4 - too risky"
            r"|\b(?:i'?m|im|we'?re|were|i\s+am|we\s+are)\s+not\s+(?:promoting|rolling|moving|pushing|shipping|"
            r"deploying|putting|taking|sending|canarying|stopping)\b"
            r"|^\W*not\s+(?:promoting|rolling|moving|pushing|shipping|deploying|putting|taking|sending)\b"
            # "not taking mnist-classifier v3 to prod"
            r"|\bnot\s+(?:taking|putting|moving|pushing|promoting|shipping|sending|bringing)\s+"
            r"(?:[^\s,;.]+\s+){1,3}?(?:to|into|in)\s+(?:prod\w*|staging|qa|uat)\b"
            # "can't put v4 in QA until the fix lands"
            r"|\b(?:can'?t|cannot|can\s+not)\s+(?:\w+\s+){0,2}?(?:promote|put|move|push|ship|deploy|"
            r"release|send|take|bring)\b"
            r"|^\W*no\s+promotions?\b",
            re.I,
        ),
    ),
    (
        "canary",
        re.compile(
            _NEGATOR + r"(?:canary|start|mirror|shadow|send|route|bump)\b"
            r"|^\W*(?:no|not\s+the)\s+canar(?:y|ies)\b",
            re.I,
        ),
    ),
    (
        "stop_canary",
        re.compile(
            _NEGATOR + r"(?:stop|kill|end|cancel|turn\s+(?:[\w.\-]+\s+){0,3}?off)\b"
            # "den Canary nicht beenden"
            r"|\bnicht\s+(?:\w+\s+)?(?:beenden|stoppen|abbrechen)\b",
            re.I,
        ),
    ),
]
#: The whole change put off: "promote x v2, not yet though", "... just kidding".
HELD_ALL = re.compile(
    r"(?<!not )\b(?:kidding|joking)\b|\b(?:don'?t|do\s+not)\W*$"
    r"|\b(?:not\s+yet|hold\s+off|hold\s+on|jk|never\s?mind|nvm|nah|lol\s+no|"
    r"on\s+second\s+thoughts?|not\s+really|or\s+not)\b(?!\s+(?:stable|live|ready|anywhere|around))"
    r"|\b(?:cancel|ignore|forget|scratch)\s+(?:that|what\s+i\s+said|i\s+said\s+that)\W*$"
    r"|/s\b|\bactually,?\s+no\W*$|\bmaybe\s+(?:not|later)\b|\bnein\b"
    # "rollback: no", "promotion? no" (a checklist's answer)
    r"|\b(?:roll\s*back|rollback|revert|promot\w*|canary|stop)\s*[:=?]\s*no\b"
    # "canary x v3 at 40%? no", "roll back x? no, the other one": asked, then answered no
    r"|\?\s*(?:no|nope|nah)(?:\s+thanks?|\s+thx)?\W*$"
    r"|^[^?]*\b(?:roll\s*back|rollback|promote|canary|stop)\b[^?]*\?\s*(?:no|nope|nah)\s*,\s*(?:the\s+)?"
    r"[\w.\-]+(?:\s+[\w.\-]+)?\W*$"
    # Spanish: "no lo hagas todavía" (don't do it yet), "todavía no"
    r"|\bno\s+lo\s+hag(?:as|an|amos)\b|\btodav[i\u00ed]a\s+no\b"
    # "Cancel that. Leave it running.": the request before taken back
    r"|^\W*(?:cancel|scratch|forget|ignore)\s+that\W+(?:leave|keep|let)\b"
    r"(?![^?]*(?:[,.;]\s*|\band\s+)(?:roll\s+back|revert|promote|stop|canary)\s+(?:the\s+canary\s+on\s+)?"
    r"[\w.]+-[\w.\-]+)"
    # "make it 30%? or wait, leave it"
    r"|\bor\s+wait\b|\bleave\s+it\s*(?:as\s+it\s+is|alone|be)?\W*$",
    re.I,
)
