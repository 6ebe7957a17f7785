"""Admission control for the buy endpoint: rate limits, waiting room, proof of work.

Public surface: :class:`Admission` (one per worker, built by the app's lifespan),
:class:`AdmissionConfig`, :class:`Policy` (a round's options), :class:`Refused`.

Exceptions::

    Exception
    ├── Refused          code: rate_limited | admission_required | challenge_failed
    └── ChallengeError   code "challenge_failed", reason: malformed | bad_signature |
                         wrong_binding | expired | too_easy | wrong_solution
"""

from flashsale.front.admission.config import AdmissionConfig, Limit
from flashsale.front.admission.guard import Admission, Refused
from flashsale.front.admission.policy import Policy
from flashsale.front.admission.pow import ChallengeError

__all__ = ["Admission", "AdmissionConfig", "ChallengeError", "Limit", "Policy", "Refused"]
