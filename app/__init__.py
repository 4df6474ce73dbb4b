"""movie-recs: a Kafka/Faust movie recommender. ``faust -A app worker`` finds ``app`` here."""
from app.faust_app import app, create_app

__all__ = ["app", "create_app"]
