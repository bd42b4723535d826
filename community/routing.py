from django.urls import path

from community.consumers import TrainingRunConsumer

websocket_urlpatterns = [
    path("ws/training-runs/<int:run_id>/", TrainingRunConsumer.as_asgi()),
]
