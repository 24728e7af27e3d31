"""Reproduce the shipped FER model from the FER2013 download: data, augmentation, models, train, evaluate."""
