"""Face measures: dlib alignment and landmarks, head pose, age and gender, smile, eyeglasses and hair, identity.

They read rendered or photographed faces and return numbers; they know nothing of edits or renders."""
