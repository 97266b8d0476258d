"""The checks graders and self-checks share, one module for each thing a check talks to: the API
(`contract`), the email job (`jobs`), the rail in Redis (`rail`), the world's ledger (`ledger`), the
workers' processes (`workers`), the student's files (`source`), the time to answer (`latency`); and
one scenario a module (`status`, `retry`, `fanout`, `schedule`)."""
