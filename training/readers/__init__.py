"""Tweet readers: the flat JSONL format, Twitter API v1.1 and v2 JSON, and bot label CSVs.

Everything comes out as ``model.record.Tweet``; whatever could not be read is counted in a ``ReadReport``.
"""

from training.readers.bot_labels import read_bot_labels
from training.readers.detect import detect_format
from training.readers.report import ReadReport, SkippedRecord
from training.readers.tweet_files import read_tweet_file, read_tweets, tweet_files
from training.readers.twitter_v1 import tweet_from_v1
from training.readers.twitter_v2 import tweet_from_v2

__all__ = [
    "ReadReport",
    "SkippedRecord",
    "detect_format",
    "read_bot_labels",
    "read_tweet_file",
    "read_tweets",
    "tweet_files",
    "tweet_from_v1",
    "tweet_from_v2",
]
