"""Per-user rate limits on the expensive requests (uploads, segmentation jobs).

Rates come from ``settings.THROTTLE_RATES`` at request time, so deployments and tests can change
them without re-importing DRF (whose own throttles freeze their rates at import).
"""
from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class _SettingsRateThrottle(UserRateThrottle):
    def get_rate(self):
        return settings.THROTTLE_RATES.get(self.scope) or None

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class UploadRateThrottle(_SettingsRateThrottle):
    scope = "uploads"


class JobRateThrottle(_SettingsRateThrottle):
    scope = "jobs"
