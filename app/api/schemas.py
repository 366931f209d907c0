"""Request and response bodies (pydantic v2); these are what /docs shows.

Static bounds here keep the schema honest for generated clients; the configurable limits
(Settings) are checked by the routes and may be tighter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from model.record import COMPONENTS

Component = Literal["text", "image", "hashtags", "location", "user"]
assert set(COMPONENTS) == {"text", "image", "hashtags", "location", "user"}

MAX_ID_CHARS = 128


def _json_integer(value: object) -> object:
    """JSON's integers, as JSON Schema counts them: 5 and 5.0, never true or "5"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Strict numbers: JSON true is not the id 1, nor k=1, nor a latitude. An integer id has at most as many
# digits as a string id has characters.
JSON_INTEGER = BeforeValidator(_json_integer)  # after the Field constraints, so the schema shows them
Id = (
    Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
    | Annotated[StrictInt, Field(ge=0, lt=10**MAX_ID_CHARS), JSON_INTEGER]
)
ShortText = Annotated[str, Field(max_length=256)]
Tag = Annotated[str, Field(min_length=1, max_length=140)]
K = Annotated[
    StrictInt,
    Field(ge=1, le=1000, description="How many results per tweet (at most the server's max_k)."),
    JSON_INTEGER,
]


class TweetIn(BaseModel):
    """The canonical tweet record (model/record.py); needs ``text`` or ``image_base64``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # What _has_content checks, said in the schema: a non-empty text or a non-empty image.
            "anyOf": [
                {"required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}},
                {
                    "required": ["image_base64"],
                    "properties": {"image_base64": {"type": "string", "minLength": 1}},
                },
            ],
            "examples": [
                {
                    "id": "1",
                    "text": "Sunset over the Seine #paris #travel",
                    "user_id": "alice",
                    "place_id": "p-paris",
                }
            ],
        },
    )

    id: Id
    text: Annotated[str, Field(max_length=100_000)] | None = None
    image_base64: str | None = Field(None, description="The image, base64 (a data: URL is accepted too).")
    created_at: ShortText | None = None
    hashtags: list[Tag] | None = Field(
        None, max_length=1000, description="Without '#'; extracted from the text when omitted."
    )
    mentions: list[Tag] | None = Field(None, max_length=1000)
    user_id: Id | None = None
    user_location: ShortText | None = Field(None, description="Free-text profile location.")
    place_id: Id | None = None
    place_name: ShortText | None = None
    place_type: ShortText | None = None
    lat: Annotated[StrictFloat, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    lon: Annotated[StrictFloat, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _has_content(self) -> TweetIn:
        if not self.text and not self.image_base64:
            raise ValueError("a tweet needs 'text' or 'image_base64'")
        return self


class TweetsIn(BaseModel):
    """One tweet (``tweet``) or a batch (``tweets``): exactly one of the two."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["tweet"]}, {"required": ["tweets"]}]},
    )

    # null is no tweet: the schema leaves it out and _one_of refuses it.
    tweet: TweetIn | SkipJsonSchema[None] = None
    tweets: (
        Annotated[list[TweetIn], Field(max_length=10_000, json_schema_extra={"minItems": 1})]
        | SkipJsonSchema[None]
    ) = None

    @model_validator(mode="after")
    def _one_of(self) -> TweetsIn:
        given = [name for name in ("tweet", "tweets") if name in self.model_fields_set]
        if len(given) != 1 or getattr(self, given[0]) is None:
            raise ValueError("give exactly one of 'tweet' or 'tweets'")
        if self.tweets is not None and not self.tweets:
            raise ValueError("'tweets' is empty")
        return self

    def items(self) -> list[TweetIn]:
        return [self.tweet] if self.tweet is not None else list(self.tweets or [])


class EmbedRequest(TweetsIn):
    store: StrictBool = Field(
        False,
        description="Also append each tweet to its author's recent-tweet store "
        "(every tweet then needs a user_id).",
    )


class HashtagRequest(TweetsIn):
    k: K = 5
    exclude_own: StrictBool = Field(True, description="Leave out hashtags the tweet already has.")


class LocationRequest(TweetsIn):
    k: K = 5


class SearchRequest(TweetsIn):
    k: K = 10
    components: list[Component] | None = Field(
        None, description="Which of the query tweet's components to search with (default: all it has)."
    )


class StoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tweets: list[TweetIn] = Field(min_length=1, max_length=10_000)


class OpenAIEmbeddingRequest(BaseModel):
    # OpenAI clients send fields this service has no use for (user, ...): ignore rather than refuse.
    model_config = ConfigDict(extra="ignore")

    input: (
        Annotated[str, Field(min_length=1, max_length=100_000)]
        | Annotated[list[Annotated[str, Field(min_length=1, max_length=100_000)]], Field(min_length=1)]
    )
    model: str | None = Field(None, max_length=256)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[StrictInt, Field(ge=1), JSON_INTEGER] | None = Field(
        None, description="Must equal the model's dim when given."
    )


# --- responses ------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class EmbedResult(BaseModel):
    id: str
    present: dict[str, bool] = Field(
        description="Every component of the checkpoint -> whether it was embedded."
    )
    components: dict[str, list[float]] = Field(description="The present components' embeddings.")
    average: list[float] | None = Field(description="L2-normalised mean of the present components.")


class EmbedResponse(BaseModel):
    model: str = Field(description="Checkpoint digest (sha256 of manifest.json).")
    dim: int
    results: list[EmbedResult]
    stored: int = Field(0, description="Tweets appended to recent-tweet stores (store: true).")


class HashtagScore(BaseModel):
    hashtag: str
    score: float


class HashtagResult(BaseModel):
    id: str
    hashtags: list[HashtagScore]


class HashtagResponse(BaseModel):
    results: list[HashtagResult]


class PlaceGuess(BaseModel):
    place_id: str
    name: str
    probability: float
    lat: float | None
    lon: float | None


class LocationResult(BaseModel):
    id: str
    places: list[PlaceGuess]


class LocationResponse(BaseModel):
    results: list[LocationResult]


class BotScoreResponse(BaseModel):
    user: str
    score: float = Field(ge=0, le=1, description="The bot probability (same as `probability`).")
    label: Literal["bot", "human"] = Field(description="bot when the score is at or above the threshold.")
    threshold: float
    tweets_used: int
    probability: float = Field(
        0.0, ge=0, le=1, description="P(bot); calibrated on out-of-fold scores when `calibrated`."
    )
    calibrated: bool = False
    subscores: dict[str, float] = Field(
        default_factory=dict,
        description="P(bot) from one feature group alone: content, behaviour, embedding.",
    )
    detector: str = Field("", description="The detector build-heads chose (see /info).")
    fitted_tweets: int = Field(0, description="Tweets per user the detector was fitted on.")
    note: str | None = Field(None, description="Set when fewer tweets than fitted_tweets were used.")


class StoreResponse(BaseModel):
    user: str
    stored: int
    total: int = Field(description="Tweets now kept for this user (capped at the store size).")


class SearchHit(BaseModel):
    id: str = Field(description="Id of a training tweet in the index.")
    score: float


class SearchResult(BaseModel):
    id: str
    hits: list[SearchHit]


class SearchResponse(BaseModel):
    results: list[SearchResult]


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


class StatusResponse(BaseModel):
    status: str
    detail: str | None = None


class InfoResponse(BaseModel):
    backend: str
    checkpoint_digest: str
    manifest_hash: str
    components: list[str]
    dim: int
    device: str
    fp16: bool
    model_process: bool = Field(False, description="Forward passes run in child processes.")
    model_processes: int = Field(0, description="How many model processes compute side by side.")
    heads: dict[str, bool]
    cache: str
    store: str
    redis: str | None
    config: dict[str, Any]
    limits: dict[str, int | float]
    bot_detector: dict[str, Any] | None = Field(
        None, description="The served bot detector: which one build-heads chose and its CV figures."
    )
