"""The speed a grading run plays rounds at, and why it is that one.

Every time a level writes is room time, so a round at ``--speed 4`` tells
the same story as at speed 1 in a quarter of the time, as far as the mesh's
own timers go.  What does not scale is the machine: a pass that costs a
proxy half a millisecond of CPU costs ``speed`` times as much room time, and
so do a reconnection, a TLS handshake, a card's lifetime that OpenSSL counts
in whole real seconds, and the noise of a shared machine.  Above some speed
these eat a level's margins and a verdict changes.

Measured on this project's 2-core machine, two rounds at a time (as
``classroom grade`` runs them there), each level's starting configuration and
solution on three seeds, against the same rounds at speed 1 (bench/grade.py;
tests/test_grade_speed.py keeps it so):

* speed 16: six verdicts of 78 differ (id-card-renewal's cards live one real
  second; the impostor's and lost-notes' retries run out);
* speed 8 and 6: lost-notes' solution misses its 98% on one round in four
  (a retry's per-try timeout has 300 ms of room time to spare, 37 ms of real
  time at speed 8), absent-friend's once at 8 (the returning student's
  reconnection takes room seconds);
* speed 4: every verdict agrees on a quiet machine (48 of 48 lost-notes
  rounds, 78 of 78 over the campaign); one lost-notes round of 78 missed
  while another project's benchmark loaded the machine to a load average of 11.

So grading runs at 4, and ``--speed`` can say otherwise (1 for the most
careful grade).
"""

GRADING_SPEED = 4.0
