"""OpenAPI pieces shared by the views (drf-spectacular): headers and error responses."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from .serializers import ErrorSerializer

ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201, 304],
    description='Strong ETag of the model, from its id and revision: "v1-<id>-<revision>".',
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="ETag(s) of the copy the client holds; when one matches, the answer is 304 without a body.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Only change the model if its current ETag is one of these (or `*`); otherwise 412. "
    "A malformed value is also answered 412.",
)
CHANGE_REASON = OpenApiParameter(
    "X-Change-Reason",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Why the change is made; recorded in the model's history.",
)
LOCATION = OpenApiParameter(
    "Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[201], description="URL of the new model."
)


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


BAD_REQUEST = {400: error_response("Invalid input; `errors` names every offending field or parameter.")}
AUTH = {
    401: error_response("Not authenticated (send `Authorization: Token <token>` or log in)."),
    403: error_response("Authenticated, but without the permission this needs."),
}
NOT_FOUND = {404: error_response("No such model.")}
PRECONDITION = {412: error_response("If-Match does not match the current ETag (or is malformed).")}
CONFLICT = {409: error_response("The write conflicts with an existing model.")}
NOT_MODIFIED = {304: OpenApiResponse(description="Not modified: If-None-Match matches the current ETag.")}
