"""The content spam model (issue 4): read labelled corpora, train, evaluate, save and
load the model file. The pre-send check that uses it is secgate.checks.spam_model."""
