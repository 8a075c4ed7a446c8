"""sargasses core."""
