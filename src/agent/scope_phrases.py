"""Words of messages that ask nothing the chat does: help, greetings, off-topic requests,
arithmetic, writing code, and registry work the chat does not carry out (with its name)."""

from __future__ import annotations

import re

HELP = re.compile(
    r"^/?(?:help|hepl|hlep|halp)\b|\bwhat can (?:you|i) (?:do|ask)\b|^\?+$"
    r"|\bhow do i (?:use (?:this|you)|approve)\b"
    r"|\bwhat do you (?:do|know)\b"
    r"|(?<!kubectl )(?<!docker )(?<!git )(?<!bash )(?<!shell )(?<!linux )\bcommands?\b.*\?$"
    r"|\bwhat\s+(?:you|u)(?:\s+are|\s+r|'?re)\s+(?:able\s+to\s+(?:do|change)|capable\s+of)\b"
    r"|^\W*man\s+modelreg\b"
    # "what are you able to do for me", "what are you capable of", "what can this thing do"
    r"|\bwhat (?:are|r) (?:you|u) (?:able to do|capable of|good for|for)\b"
    r"|\bwhat (?:else )?(?:can|does) (?:this|the) (?:thing|tool|bot|chat|assistant) do\b"
    r"|\bwhat else can (?:you|i) (?:do|ask)\b"
    # "what stuff can you actually do for me?"
    r"|\bwhat\s+(?:stuff|things|else)\s+can\s+(?:you|u)\s+(?:actually\s+|really\s+)?do\b"
    # "List available commands.", "Confirm agent capabilities" (a runbook's step)
    r"|\b(?:list|show)\s+(?:me\s+)?(?:(?:your|the|all|available|supported)\s+)+commands\b"
    r"|\b(?:agent|chat|bot|assistant|your)\s+capabilities\b"
    # "What requests do you support?", "which commands do you understand"
    r"|\b(?:what|which)\s+(?:kinds?\s+of\s+)?(?:requests|commands|questions|things)\s+"
    r"(?:do|can)\s+(?:you|u)\s+(?:support|understand|handle|take|answer)\b"
    # "What is your purpose? what are you allowed to do in the registry?"
    r"|\bwhat\s+is\s+your\s+(?:purpose|job|role)\b|\bwhat\s+are\s+you\s+allowed\s+to\s+do\b"
    # "what cmds do u support?", "which operations are you able to perform"
    r"|\bwhat\s+(?:cmds|commands|operations|actions)\s+(?:do|can)\s+(?:you|u)\b"
    r"|\b(?:which|what)\s+(?:operations|actions|commands)\s+(?:you\s+)?(?:are\s+)?(?:able\s+to|can)\b"
    # "how does this chat work and what may I ask it?"
    r"|\bhow does (?:this|the) (?:chat|tool|bot|thing|assistant) work\b"
    r"|\bwhat (?:can|may|could|should) (?:i|we) ask\b"
    # "explain me which kinds of questions I am allowed to ask you"
    r"|\b(?:which|what)\s+(?:kinds?\s+of\s+|sorts?\s+of\s+|types?\s+of\s+)?(?:questions|things|requests)\s+"
    r"(?:can|may|could|should)?\s*(?:i|we)\s+(?:am\s+|are\s+)?(?:allowed\s+to\s+|able\s+to\s+)?ask\b"
    # "what kinds of questions you are able to answer"
    r"|\b(?:which|what)\s+(?:kinds?|sorts?|types?)\s+of\s+(?:questions|things|requests)\s+"
    r"(?:can\s+)?(?:you|u)\s+(?:are\s+)?(?:able\s+to\s+|can\s+)?(?:answer|handle|do|help\s+with)\b",
    re.I,
)

#: Plainly not about the registry.
OFF_TOPIC = re.compile(
    # "before lunch" says when, not what.
    r"\b(?:weather|joke|poem|recipe|(?<!before\s)(?<!after\s)(?<!since\s)(?:lunch|dinner)|coffee|canteen|cafeteria|football|soccer|movie|song|lyrics|"
    r"capital of|translate|stock price|bitcoin|horoscope|email (?:my|the) boss|birthday|"
    r"meaning of life|who are you|how are you|your name|pizza|restaurants?|wifi|self-review|"
    # Somewhere to go: "a good place near the office", "churrascaria perto da Paulista"
    r"churrascaria|place\s+to\s+(?:eat|stay)|"
    # "who's on call after me tonight": the rota, not the registry
    r"who(?:s|\s+is|\s+will\s+be)\s+on[\s-]?call|on[\s-]?call\s+(?:rota|rotation|schedule)|"
    r"page\s+(?:whoever|someone|somebody|the\s+on[\s-]?call|on[\s-]?call)|whoever(?:s|\s+is)\s+on[\s-]?call|"
    # "book a room for the model review tomorrow": the calendar, not the registry
    r"book\s+(?:a|the|us\s+a|me\s+a)\s+(?:meeting\s+)?room|calendar\s+invite|"
    r"(?:schedule|set\s+up)\s+(?:a|the)\s+(?:meeting|call)\b(?!.{0,40}\bcanary)|"
    r"near\s+(?:me|here|the\s+office)|"
    r"draft (?:three|two|a few|some)? ?paragraphs|"
    # "draft the Q1 OKRs for the team": planning documents, not the registry
    r"okrs?|quarterly goals|slide deck|performance reviews?|"
    # The cluster and the machine, not the registry: pods, nodes, drivers, memory errors.
    r"k8s|kubectl|kubernetes|pods?|nodes?|cluster|cuda|gpu driver|out of memory|oom|"
    r"segfault|stack ?trace|docker(?:file)?|vpn|ssh|pip install|conda|"
    # Other software: "fix the CI pipeline for the frontend repo"
    r"ci\s+pipelines?|frontend|front-end|jenkins|github\s+actions|"
    # the clock, meeting minutes, training recipes: not the registry
    r"what\s+time\s+is\s+it|minutes\s+of\s+(?:the\s+|today'?s\s+|our\s+|\w+day'?s\s+)?(?:[\w-]+\s+){0,3}"
    r"(?:meeting|committee|standup|stand-up|call|sync)|meeting\s+notes|"
    r"(?:lr|learning[\s-]rate)\s+(?:warm-?up|schedule|decay)|warm-?up\s+steps|adamw|"
    r"adam\s+(?:optimi[sz]er|betas?)|optimi[sz]er|"
    r"weight\s+decay|dropout\s+rate|"
    # "help me draft a polite email to the ministry"
    r"(?:write|draft|compose)\s+(?:me\s+|us\s+)?(?:a|an)\s+(?:\w+\s+)?(?:email|e-mail|letter|memo|paragraph)|"
    # "write the release notes for the 3.2 app release": a document, not the registry
    r"(?:write|draft|compose|prepare)\s+(?:me\s+|us\s+)?(?:the|a|an|some|our)\s+(?:\w+\s+)?"
    r"(?:release\s+notes|blog\s+post|press\s+release|newsletter|announcement|tweet|"
    r"linkedin\s+post|social\s+media\s+post)|"
    r"write (?:me )?(?:a |an )?"
    r"(?:essay|story|poem|haiku|function|script|code)|python code|sql query)\b",
    re.I,
)

#: A greeting or an acknowledgement on its own ("ok", "thanks!"): no request in it.
GREETING = re.compile(
    r"^\W*(?:(?:hi|hello|hey|yo|thanks|thank you|thx|cheers|good (?:morning|night|evening)|ok|"
    r"okay|cool|great|nice|lol|bye|alright|got it)\b[\s!.?,]*)+"
    r"(?:there|again|so much|a lot)?[\s!.?,]*$",
    re.I,
)

#: Arithmetic and trivia ("what's 2+2").
ARITHMETIC = re.compile(r"^\W*(?:what is|calculate|compute)?\s*[\d\s+\-*/x().^=]+\??\s*$", re.I)

#: Writing code or prose for someone: out of scope whatever model it mentions.
#: A document asked to be written ("draft the announcement for the rollback", "write the
#: release notes"): the chat writes none, and the change it is about is never asked by it.
WRITE_DOCUMENT = re.compile(
    r"\b(?:write|draft|compose|prepare)\s+(?:me\s+|us\s+)?(?:the|a|an|some|our)\s+(?:\w+\s+)?"
    r"(?:release\s+notes|blog\s+post|press\s+release|newsletter|announcement|tweet|linkedin\s+post|"
    r"social\s+media\s+post|post-?mortem|incident\s+report|changelog\s+entry|summary)\b",
    re.I,
)
CODING = re.compile(
    r"\b(?:write|generate|give me)\s+(?:me\s+)?(?:a\s+|an\s+|some\s+)?(?:\w+\s+){0,2}"
    r"(?:script|code|function|notebook|snippet|class|program|essay|poem)\b"
    r"|\b(?:python|bash|sql|pytorch)\s+(?:code|script|snippet)\b"
    # Debugging someone's own code: a data library, or "my script / my notebook".
    r"|\b(?:pandas|numpy|dataframes?|groupby|matplotlib|sklearn|scikit-learn|regex|"
    r"my (?:\w+ )?(?:code|script|notebook|function|loop|query|jupyter))\b"
    r"(?![^?]*\b(?:compare|against|vs|versus)\b[^?]*\b(?:prod\w*|staging|v\d+)\b)",
    re.I,
)

#: Registry work the chat does not do, and the command that does it (None: no command).
UNSUPPORTED: list[tuple[str, re.Pattern[str]]] = [
    (
        "archive",
        re.compile(
            # "what's in the archive": the stage, not the verb
            r"(?<!the )(?<!in )\barchiv(?:e|ing)\b|\bretire\b|\bdecommission\b"
            # "undeploy x", "unload v1", "take v1 out of service": a version out of use.
            r"|\bun-?deploy\w*|\bunload\w*|\btake\s+(?:\S+\s+){0,3}?out\s+of\s+(?:service|use)\b"
            # "demote x v2 from staging", "take v2 out of staging": a version out of Staging
            r"|\b(?:de-?mote|un-?promote)\b(?=[^.!?;]*\bstag(?:e|ing)\b)"
            r"|\btake\s+(?:\S+\s+){0,3}?out\s+of\s+stag(?:e|ing)\b",
            re.I,
        ),
    ),
    (
        "delete",
        re.compile(
            r"\b(?:delete|remove|drop|purge|erase|destroy|get rid of|wipe|nuke)\b"
            r"(?!.*\bcanar)",
            re.I,
        ),
    ),
    (
        "retrain",
        re.compile(
            r"\bre-?train\w*|\bfine[- ]?tun\w*|^(?:please\s+|can you\s+|pls\s+)?train\b"
            r"|\btrain (?:a |an |another |it\b|them\b|the model|again|on\b)|\bre-?fit\b",
            re.I,
        ),
    ),
    ("rename", re.compile(r"\brenam\w+\b", re.I)),
    (
        # "can you just approve the pending promotion for me?": approvals are a human's
        "approve",
        re.compile(
            r"^\W*(?:(?:please|pls|ok|so)\W+)*(?:(?:can|could|would)\s+(?:you|u)\s+(?:just\s+)?|just\s+)?"
            r"(?:approve|sign\s+off(?:\s+on)?|accept)\s+(?:the|that|this|it|my|all|every|both|"
            r"them|those|whatever|everything|anything)\b(?!.{0,40}\bmyself\b)"
            r"|\bapprove\s+(?:\S+\s+){0,5}?(?:for\s+me|on\s+my\s+behalf|in\s+my\s+name)\b",
            re.I,
        ),
    ),
    (
        "tag",
        re.compile(
            r"\b(?:tag|label)\s+(?!of\b)(?:\w[\w.\-]*\s+){0,3}(?:as|with|=)\b"
            r"|\badd (?:a )?tag\b|\bset (?:a |the )?tag\b",
            re.I,
        ),
    ),
    ("register", re.compile(r"\b(?:register|upload|import)\b(?!ed)", re.I)),
    (
        "edit_card",
        re.compile(
            r"\b(?:edit|update|change|set|fix|rewrite|amend|correct)\s+(?:the\s+)?(?:model\s+)?"
            r"(?:card|description)\b"
            # "can you change the owner field to Mei?"
            r"|\b(?:edit|update|change|set|fix|correct)\s+(?:the\s+|its\s+)?(?:owner|author|license|"
            r"intended[\s-]use|limitations|dataset|metrics?)\s+(?:field|section|entry)\b"
            # "the card ... has the wrong dataset, can you change the dataset field to ..."
            r"|\bcard\b.{0,80}?\b(?:edit|update|change|set|fix|correct)\s+(?:the\s+|its\s+)?"
            r"[\w\s\-]{0,30}?\b(?:field|section|dataset|intended\s+use|limitations)\b",
            re.I,
        ),
    ),
    (
        "predict",
        re.compile(
            r"\b(?:predict|run inference|classify this|score this|make a prediction)\b", re.I
        ),
    ),
    (
        "download",
        re.compile(r"\bdownload\b.{0,40}\b(?:weights|artifacts?|files?|\.pt|model)\b", re.I),
    ),
    (
        "export",
        re.compile(
            r"\bexport(?:ing)?\s+(?!with\b|of\b|from\b|that\b|which\b)"
            r"|\b(?:save|dump|copy)\s+(?:\S+\s+){0,4}?(?:weights|artifacts?)\b",
            re.I,
        ),
    ),
    ("restart", re.compile(r"\b(?:restart|reboot)\b", re.I)),
    ("scale", re.compile(r"\b(?:scale|replicas?|redeploy the pod)\b", re.I)),
]
