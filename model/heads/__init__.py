"""Downstream heads on top of the joint embeddings: load + predict (fitting lives in training/heads)."""

from model.heads.bot_forest import ForestBotDetector, user_statistics
from model.heads.bot_head import BotDetector, CnnBotDetector, KnnBotDetector
from model.heads.hashtag_index import HashtagRecommender
from model.heads.loader import Heads, load_heads
from model.heads.location_head import LocationContext, LocationPredictor, PlaceGuess, location_features
from model.heads.retrieval_index import RetrievalIndex

__all__ = [
    "BotDetector",
    "CnnBotDetector",
    "ForestBotDetector",
    "HashtagRecommender",
    "Heads",
    "KnnBotDetector",
    "LocationContext",
    "LocationPredictor",
    "PlaceGuess",
    "RetrievalIndex",
    "load_heads",
    "location_features",
    "user_statistics",
]
