Goal True. idtac "ÿ". exact I. Qed.
