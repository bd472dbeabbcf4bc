"""The server's request and response bodies as Pydantic models: what /openapi.json (and /docs) documents.

The route reads the raw body and checks it itself (emodraw.serve.validation), so that every refusal is
`{"error": "..."}` naming the problem; these models describe the same contract for clients and code
generators, and the tests validate real answers against them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

FUNCTIONS = ("softmax", "sigmoid", "none")


class Parameters(BaseModel):
    """Options of one request: those of transformers' text-classification pipeline, and `explain`."""

    model_config = ConfigDict(extra="forbid")
    top_k: int | None = Field(None, ge=1, description="the k best labels only; null: every label")
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = Field(
        None, description="scores from the logits: softmax, sigmoid, none; null: sigmoid for a multi-label model"
    )
    explain: bool = Field(False, description="add each word's contribution (occlusion: the score lost without it)")


class PredictRequest(BaseModel):
    """Exactly one of `text`, `texts` (emodraw's shapes) or `inputs` (the Hugging Face Inference API's)."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, min_length=1, examples=["i am furious about the delay"])
    texts: list[str] | None = Field(None, min_length=1)
    inputs: str | list[str] | None = Field(None, description="one text, or a list: answered as [[{label, score}]]")
    parameters: Parameters | None = None


class WordWeight(BaseModel):
    word: str
    start: int = Field(description="character offset of the word in the text")
    end: int
    weight: float = Field(description="the predicted label's score lost when the word is left out")
    weights: dict[str, float] = Field(description="the same for every label")


class Prediction(BaseModel):
    label: str = Field(description="the highest-scoring label")
    labels: list[str] | None = Field(
        None, description="a multi-label model only: every label over its threshold (chosen on validation)"
    )
    scores: dict[str, float] = Field(description="by label, highest first (the top_k best with top_k)")
    truncated: bool = Field(description="the text was cut at the model's maximum length")
    explanation: list[WordWeight] | None = Field(None, description="with parameters.explain only")


class Predictions(BaseModel):
    results: list[Prediction]


class LabelScore(BaseModel):
    label: str
    score: float


class ExplainedScores(BaseModel):
    """An `inputs` answer with parameters.explain: the sorted scores and the words' weights."""

    scores: list[LabelScore]
    explanation: list[WordWeight]


class InferenceAnswer(RootModel[list[list[LabelScore]] | list[ExplainedScores]]):
    """The answer to `inputs`: one list per input, as the Inference API's text-classification task gives."""


class ErrorBody(BaseModel):
    error: str


class Health(BaseModel):
    status: Literal["ok"]
    model: str = Field(description="the model's name (never a path of the server's disk)")
    backend: str
    multi_label: bool
    labels: list[str]
    max_length: int
    long_text: Literal["truncate", "chunk"]
    batch_window_ms: float
    in_flight: int


class Labels(BaseModel):
    labels: list[str]


ERRORS = {
    401: "missing or wrong API key (only when the server has one)",
    408: "headers or body not sent in time",
    413: "body over the size limit",
    422: "invalid request: the message names the problem",
    429: "too many requests in flight: retry shortly",
    500: "the model failed on this request",
}


def predict_responses() -> dict:
    """The `responses` of POST /predict for FastAPI: the three answer shapes and every error."""
    answers = {"anyOf": [{"$ref": f"#/components/schemas/{m.__name__}"} for m in (Prediction, Predictions)]}
    answers["anyOf"].append({"$ref": "#/components/schemas/InferenceAnswer"})
    return {
        200: {
            "description": "a Prediction for text, Predictions for texts, [[LabelScore]] for inputs",
            "content": {"application/json": {"schema": answers}},
        },
        **{code: {"model": ErrorBody, "description": why} for code, why in ERRORS.items()},
    }


def add_schemas(app) -> None:
    """Put the request and answer models into the app's OpenAPI components and the request body on the predict
    routes (the routes read the raw body, so FastAPI cannot infer it)."""
    build = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (PredictRequest, Prediction, Predictions, InferenceAnswer, ErrorBody):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
        body = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
        }
        for path in ("/predict", "/"):
            if "post" in schema["paths"].get(path, {}):
                schema["paths"][path]["post"]["requestBody"] = body
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
