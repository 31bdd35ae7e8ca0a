"""Private (authenticated) venue streams: order, fill, balance and position pushes.

One module per venue holds its session: where to connect, how to log in (signed the
way the venue documents), what to subscribe, and a pure decoder from frames to the
venue-neutral pushes of ``updates``. ``stream.PrivateStream`` keeps one such session
connected (backoff, keepalive) and tells its owner when it (re)connected, so the owner
reconciles over REST whatever it may have missed while the socket was down.
"""
