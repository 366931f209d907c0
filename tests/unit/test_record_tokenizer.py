"""The canonical record and the tokenizer: hashtags and mentions split from the text as the paper does."""

from pathlib import Path

import pytest

from model.record import RecordError, Tweet
from model.tokenizer import PAD_ID, UNK_ID, Vocabulary, extract_hashtags, extract_mentions, tokenize


def test_hashtags_and_mentions_are_split_from_the_text() -> None:
    text = "Go @Razorbacks! #WooPigSooie at the game w/ @jo_ann https://t.co/abc #2017Champs #1"
    assert extract_hashtags(text) == ["WooPigSooie", "2017Champs"]  # '#1' is no hashtag on Twitter
    assert extract_mentions(text) == ["Razorbacks", "jo_ann"]
    words = tokenize(text)
    assert "woopigsooie" not in words and "razorbacks" not in words and "jo_ann" not in words
    assert words[:3] == ["go", "!", "at"]
    assert "<url>" in words


def test_urls_and_emails_do_not_yield_tags_or_mentions() -> None:
    text = "mail me at a@b.com or see https://x.com/#frag and www.site.org/@user"
    assert extract_hashtags(text) == []
    assert extract_mentions(text) == []


def test_vocabulary_encode_and_round_trip(tmp_path: Path) -> None:
    vocab = Vocabulary.build(["the cat sat", "the dog sat", "a bird"], min_count=2)
    assert vocab.words[:2] == ["<pad>", "<unk>"]
    assert set(vocab.words[2:]) == {"the", "sat"}
    ids = vocab.encode("The zebra sat", max_len=10)
    assert ids == [vocab.index["the"], UNK_ID, vocab.index["sat"]]
    assert PAD_ID not in ids
    assert vocab.encode("", max_len=5) == [UNK_ID]
    assert len(vocab.encode("the " * 50, max_len=7)) == 7
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").words == vocab.words


def test_flat_record_extracts_missing_entities_and_resolves_image(tmp_path: Path) -> None:
    tweet = Tweet.from_flat({"id": 5, "text": "hi #Tag @bob", "image": "images/5.png", "lat": 1.5}, tmp_path)
    assert tweet.id == "5"
    assert tweet.hashtags == ("Tag",)
    assert tweet.mentions == ("bob",)
    assert tweet.image == str(tmp_path / "images/5.png")
    flat = tweet.to_flat(tmp_path)
    assert flat["image"] == "images/5.png"
    assert Tweet.from_flat(flat, tmp_path) == tweet


def test_given_entities_win_over_extraction() -> None:
    tweet = Tweet.from_flat({"id": "1", "text": "#a #b", "hashtags": ["c"], "mentions": []})
    assert tweet.hashtags == ("c",)
    assert tweet.mentions == ()


@pytest.mark.parametrize(
    "obj",
    [
        {"text": "no id"},
        {"id": "1"},
        {"id": "1", "text": ""},
        {"id": True, "text": "x"},
        {"id": "1", "text": 5},
        {"id": "1", "text": "x", "lat": 91},
        {"id": "1", "text": "x", "lon": float("nan")},
        {"id": "1", "text": "x", "hashtags": "notalist"},
        ["not", "an", "object"],
    ],
)
def test_bad_flat_records_raise_record_error(obj: object) -> None:
    with pytest.raises(RecordError):
        Tweet.from_flat(obj)
