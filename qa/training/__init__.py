"""Making and judging the reader: training data, training, evaluation (reader alone, or questions through
the whole pipeline), metrics, calibration of the served score, and tuning the shipped model's settings."""
