"""A synthetic Twitter world with a hidden ground truth (cities, topics, users, bots).

Real corpora cannot ship, so ``tweetembed synth`` writes one that is hard enough to tell good models
from bad: every signal a model could use (text, hashtags, images, places, mentions) is present but
noisy, partial and shared between classes, and ``world.json`` records the truth it was drawn from.
"""
