"""The invalidation rule engine.

- ``conditions.py``  operators, value checks, RE2 regexes
- ``params.py``      declared parameters of strategies and actions
- ``entries.py``     what is cached now (read without side effects)
- ``strategies.py``  built-in and custom strategies (which entries are candidates)
- ``actions.py``     invalidate, refresh, extend_ttl, tag, notify
- ``validation.py``  a rule's definition checked on save (model ``clean``, admin, API)
- ``engine.py``      evaluating one rule
- ``services.py``    ``rules_fire``, ``rules_evaluate_scheduled``, ``rule_dry_run``, ``rule_execute``,
                     rule create/update/delete
- ``receivers.py``   firing after commit on model and provider writes
"""
