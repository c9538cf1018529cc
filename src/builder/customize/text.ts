/** First line of every config file plinth writes into an image. */
export const HEADER = "# Written by plinth from the image spec.\n";
