"""Built-in torch models: logistic regression and a ReLU MLP, returning logits ``(n,)``."""

from trifront.models.modules import MLP, MODELS, LogisticRegression, make_model, predict_proba

__all__ = ["MLP", "MODELS", "LogisticRegression", "make_model", "predict_proba"]
