"""The speed a grading run plays rounds at, and why it is that one.

Every time a level writes is room time, so a round at ``--speed 4`` tells
the same story as at speed 1 in a quarter of the time, as far as the mesh's
own timers go.  What does not scale is the machine: a pass that costs a
proxy half a millisecond of CPU costs ``speed`` times as much room time, and
so do a reconnection, a TLS handshake, a card's lifetime that OpenSSL counts
in whole real seconds, and the noise of a shared machine.  Above some speed
these eat a level's margins and a verdict changes, always the same way: a
configuration that meets an objective at speed 1 misses it fast, never the
other way round (no objective asks for a delay, so more delay never helps).

Measured on this project's 2-core machine, two rounds at a time (as
``classroom grade`` runs them there), each level's starting configuration and
solution on three seeds against the same rounds at speed 1 (bench/grade.py):

* speed 16: six verdicts of 78 differ (id-card-renewal's cards live one real
  second; the impostor's and lost-notes' retries run out);
* speed 8 and 6: lost-notes' solution misses its 98% on one round in four
  (a retry through the back row has 450 ms of room time to spare: 56 ms of
  real time at speed 8), absent-friend's now and then (the returning
  student's reconnection takes room seconds);
* speed 4: every verdict agrees on a quiet machine (48 of 48 lost-notes
  rounds, 78 of 78 over the campaign); on a machine that other test suites
  load to a load average of 10-18, lost-notes' solution misses about one
  round in thirty, as it then does now and then at speed 1 too.

So grading runs at 4, the highest speed whose verdicts agree with speed 1 on
a quiet machine, and every round that missed something there is played
again at speed 1, whose verdict stands (:func:`~.runner.run_confirmed`): a
pass at 4 is a pass, and a miss is confirmed where the machine's delays are
smallest.  ``--speed`` can say otherwise (1 grades everything at speed 1).
"""

GRADING_SPEED = 4.0
