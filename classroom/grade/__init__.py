"""``classroom grade``: submissions × levels × seeds, each a real round, scored and written out.

Theory of operation
-------------------
1. :mod:`.course` makes the plan: the course (levels, :mod:`.points`, the
   visible and hidden seeds, the speed of :mod:`.speed`), each submission's
   configuration per level, and a round per submission × level × seed; a
   missing configuration, or one that does not load, is settled without a
   round (its level scores 0; its ``FILE:LINE`` goes into the feedback).
2. :mod:`.runner` runs the rounds, on worker processes that each fork every
   round from one launcher, longest first.
3. :mod:`.course` judges the outcomes into one :class:`~.result.Grade`:
   a check per objective × seed, with its points and why it was missed.
4. :mod:`.junit`, :mod:`.outputs` and :mod:`.feedback` write that grade as
   JUnit XML, Gradescope's results.json, CSV, Markdown and a terminal table;
   :mod:`.junit` also writes a single round's ``run --junit``.

Nothing here changes how a round runs: a grade is the verdicts of the same
rounds ``classroom run`` plays, at a speed shown to give the same verdicts.
"""
