# attack: an endless loop at import: the API never listens, and a grader without deadlines would wait forever
# honest: 0 the program never serves a request; each test gives up on it after its deadline
# proof: did not answer on port
print("ATTACK looping forever at import")
while True:
    pass
