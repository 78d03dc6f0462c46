"""Push: watchers hold an IMAP connection per watched folder and ask for a scan on news.

The flow, for every active scanner with `push` on and every folder its active rules read:

  1. the supervisor (`supervisor.py`) decides which scanners this process watches: all of
     them inside `mailscanner serve` (embedded mode), its leased share among the
     `mailscanner watch` processes when Redis is configured (`leases.py`);
  2. a folder watcher (`folder.py`) connects with the scanner's credentials of the moment
     (`scanner.credentials`, a fresh OAuth token each time), compares the folder's STATUS
     with the signature the last scan recorded (`scanning/signature.py`) and asks for a
     scan if anything came meanwhile;
  3. it then IDLEs (RFC 2177) on an EXAMINEd folder, leaving and re-entering IDLE every
     `idle_seconds` (under the 29 minutes servers allow; also the keepalive), or, when the
     server has no IDLE, polls with that one STATUS at the scanner's interval;
  4. on news (`* n EXISTS` beyond the known count; for "only unread" scanners a message
     marked unread again) it asks for a scan through `requests.py`, which coalesces: per
     scanner one request in flight and one waiting, however many arrivals; the queue keeps
     one queued run per scanner and the scanner lock one scan at a time;
  5. the scan runs in a worker (or the embedded runner), never in the watcher: a watcher
     holds sockets and little else (`transport/imap_idle.py`: asyncio, no thread).

The state of each scanner's watchers (IDLING, POLLING, CONNECTING, BACKING_OFF, when,
the last event and error) is saved in `PushStatus` rows (`status.py`), shown as
`Scanner.health.push`.

Failure story. A dropped connection, a server restart, a refused login: the folder
watcher shows BACKING_OFF with the reason, waits an exponential, jittered delay (capped;
the cap at once for a login a person must fix) and reconnects; its catch-up check (step 2)
asks for the scan that covers anything it missed. A watcher process that dies: its leases
expire after `lease_seconds` and the others take its scanners over at their next tick. A
missed notification of any kind: the interval's safety-net scan (cron) still runs, and its
cheap check makes it one STATUS per folder when nothing changed. No mail depends on a
watcher: a watcher only ever makes a scan happen sooner.
"""
