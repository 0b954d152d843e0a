"""The static leaderboard: validated submissions in, plain HTML out (``medlethe leaderboard``)."""

from medlethe.leaderboard.build import BuildReport, build_site
from medlethe.leaderboard.validate import Submission, SubmissionError, validate_submission

__all__ = ["BuildReport", "Submission", "SubmissionError", "build_site", "validate_submission"]
