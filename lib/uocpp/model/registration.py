# The registration state that BootNotification.conf sets (seed section 3.2:
# REGISTRATIONSTATUS, BOOTNOTIFICATIONCONFIG_T). The boot service writes it;
# the outbox reads it before every CALL of ours (BN-04, BN-09, BN-12) and the
# RPC layer before answering one of the central system's (BN-10).
import asyncio

# REGISTRATIONSTATUS
ACCEPTED = "Accepted"
PENDING = "Pending"
REJECTED = "Rejected"


class Registration:
    # BOOTNOTIFICATIONCONFIG_T: what the last valid BootNotification.conf
    # said. status is None until one arrived; current_time is its ISO text.
    def __init__(self):
        self.status = None
        self.current_time = None
        self.interval = 0
        self.accepted = asyncio.Event()  # validBootnotification

    def may_send(self, triggered):
        # A CALL other than BootNotification: only after Accepted, or while
        # Pending when a TriggerMessage asked for it (BN-04, BN-12).
        status = self.status
        return status == ACCEPTED or (status == PENDING and triggered)

    def answers_calls(self):
        # While Rejected the central system's CALLs get no answer (BN-10).
        return self.status != REJECTED
