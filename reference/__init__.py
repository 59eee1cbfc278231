"""Reference solutions for chapter 4 of the fastai book (MNIST from scratch)."""
