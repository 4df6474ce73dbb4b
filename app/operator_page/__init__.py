"""The operator page: live figures of one worker for people who would rather look than read."""
