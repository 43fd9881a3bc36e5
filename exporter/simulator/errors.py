"""API error codes and the message texts the simulator answers with.

Messages imitate the wording of the real service so that log lines produced against the
simulator look like the ones operators will see in production.
"""

from __future__ import annotations

_MESSAGES: dict[str, str] = {
    "AuthFailure.InvalidAuthorization": "The `Authorization` header is missing or malformed.",
    "AuthFailure.SecretIdNotFound": (
        "The SecretId is not found, please ensure that your SecretId is correct."
    ),
    "AuthFailure.SignatureExpire": (
        "Signature expired. Please check that your local clock is accurate "
        "(the request timestamp must be within 5 minutes of server time)."
    ),
    "AuthFailure.SignatureFailure": (
        "The provided credentials could not be validated. Please check your signature is correct."
    ),
    "AuthFailure.TokenFailure": "Token verification failed. The temporary token is invalid.",
    "AuthFailure.UnauthorizedOperation": "The request is not authorized (CAM check failed).",
    "AuthFailure.InvalidSecretId": "Invalid SecretId: the key must be a cloud API key.",
    "AuthFailure.MFAFailure": "MFA verification failed.",
    "RequestLimitExceeded": (
        "Your current request rate exceeds the frequency limit of this API. "
        "Please reduce the frequency of calls."
    ),
    "RequestLimitExceeded.UinLimitExceeded": "The request rate of this account exceeds the limit.",
    "RequestLimitExceeded.IPLimitExceeded": "The request rate of this IP exceeds the limit.",
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": (
        "The global request rate of this account exceeds the limit."
    ),
    "InternalError": (
        "An internal error has occurred. Retry your request, but if the problem persists, "
        "contact us."
    ),
    "InternalError.CallOtherSvrError": "Error calling internal service.",
    "InternalError.ConfigNotExist": "The configuration does not exist.",
    "InternalError.GetBizidError": "Error getting user account.",
    "InternalError.GetStreamInfoError": "Failed to get the stream information.",
    "InternalError.GetUpstreamInfoError": "Error getting the live stream source information.",
    "InternalError.NotPermmitOperat": "No permission to operate.",
    "InternalError.StreamStatusError": "Exceptional stream status.",
    "InternalError.UpdateDataError": "Failed to update data.",
    "FailedOperation": "Operation failed.",
    "FailedOperation.CallOtherSvrFailed": "Failed to call the internal service.",
    "FailedOperation.HasNotLivingStream": "There is no live stream online now.",
    "ResourceNotFound.ForbidService": "You are blocked.",
    "ResourceNotFound.FreezeService": "Service suspended.",
    "ResourceNotFound.StopService": (
        "The service has been suspended due to account arrears. "
        "Please top up it to a positive balance to activate the service first."
    ),
    "ResourceNotFound.UserDisableService": "You disabled the service.",
    "ResourceNotFound.UserNotExist": "The LVB service has not been activated.",
    "UnauthorizedOperation": "Unauthorized operation.",
    "RequestSizeLimitExceeded": "The request body exceeds the size limit.",
}


def message_for(code: str) -> str:
    """Return the message the simulator sends with ``code``."""
    if code in _MESSAGES:
        return _MESSAGES[code]
    family = code.split(".", 1)[0]
    if family in _MESSAGES:
        return f"{_MESSAGES[family]} ({code})"
    return f"The request failed with error {code}."


class ApiError(Exception):
    """An error answered inside a normal HTTP 200 ``Response.Error`` envelope."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message if message is not None else message_for(code)
        super().__init__(f"{code}: {self.message}")


def missing_parameter(name: str) -> ApiError:
    return ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")


def invalid_value(name: str, reason: str) -> ApiError:
    return ApiError(
        "InvalidParameterValue", f"The value of parameter `{name}` is invalid: {reason}."
    )
