# The 1.6 shape of every reply the charger acts on: the .conf of each CALL
# it sends, one small module per action (named like ops/: StartTransaction
# -> start_transaction.py), each with CONF, its validate.py declaration,
# and optionally instead(), what a refused reply stands for. The outbox
# imports one with each of the action's replies (outbox.conf_of), checks the
# CALLRESULT against it before any hook (answered, a waiter) sees it, so
# those can trust its types, required fields, enums and lengths, and drops
# it again: kept, a transaction's would stay in the heap all session.
# Actions whose .conf is empty (MeterValues, StatusNotification,
# DiagnosticsStatusNotification, FirmwareStatusNotification) have none.
#
# A property the schema lacks is ignored, not refused: 1.6's response
# schemas say additionalProperties false, but central systems add vendor
# fields, and refusing a StartTransaction.conf for one would give up a
# transaction the central system has accepted; the charger never reads
# them, so they cannot mislead it.
