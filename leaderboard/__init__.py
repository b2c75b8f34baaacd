"""The leaderboard: a pure function of result records."""
